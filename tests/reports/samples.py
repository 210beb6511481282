"""Hand-built report results in English, Arabic and Chinese, for the renderers' tests (the real
reports' builders are tested against raw sales on their own)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from gridvend.identity.models import User
from gridvend.reports.base import (
    CellKind,
    ChartKind,
    ChartSpec,
    Column,
    ReportResult,
    ReportRow,
    ReportTable,
    RowRole,
)

# 02:00 UTC is 05:00 in Nairobi, the tests' utility time zone.
GENERATED_AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
SOLD_AT = datetime(2026, 11, 30, 21, 30, tzinfo=UTC)  # 00:30 on 1 December in Nairobi

# Texts that a spreadsheet would run as formulas, and two that must stay as they are.
HOSTILE = ["=SUM(A1:A9)", "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)", "\tx", "\rx"]
HARMLESS = ["+254 700 000 000", "-12.5"]


@dataclass(frozen=True)
class Words:
    language: str
    title: str
    period: str
    region_label: str
    region: str
    note: str
    table: str
    unit: str
    count: str
    tender: str
    energy: str
    day: str
    sold_at: str
    share: str
    names: tuple[str, str, str]
    subtotal: str
    total: str
    user: str


ENGLISH = Words(
    "en", "Sales by vending point", "Period", "Region", "Nairobi North",
    "Sales up to 14:05 included", "Vending points", "Vending point", "Sales", "Tender",
    "Energy (kWh)", "Day", "Last sale", "Share", ("Kasarani office", "Ruaka agent", "Thika Road"),
    "Nairobi North subtotal", "All regions", "Amina Wanjiru",
)  # fmt: skip
ARABIC = Words(
    "ar", "المبيعات حسب نقطة البيع", "الفترة", "المنطقة", "شمال القاهرة",
    "المبيعات حتى الساعة 14:05", "نقاط البيع", "نقطة البيع", "عدد المبيعات", "المبلغ",
    "الطاقة", "اليوم", "آخر بيع", "الحصة", ("مكتب شبرا", "وكيل المطرية", "مكتب الزيتون"),
    "مجموع شمال القاهرة", "كل المناطق", "محمد عبد الله",
)  # fmt: skip
CHINESE = Words(
    "zh-hans", "按售电点统计的售电", "期间", "区域", "北京北区", "数据截至 14:05",
    "售电点", "售电点名称", "笔数", "金额", "电量", "日期", "最后售电", "占比",
    ("海淀营业厅", "昌平代理", "顺义营业厅"), "北京北区小计", "所有区域", "王伟",
)  # fmt: skip
LANGUAGES = {"en": ENGLISH, "ar": ARABIC, "zh-hans": CHINESE}

# (count, tender in minor units, kWh, share %) per vending point, and their sums.
FIGURES = [
    (12, 1_234_550, Decimal("1023.456"), Decimal("45.5")),
    (7, 998_000, Decimal("812.300"), Decimal("36.4")),
    (3, 487_525, Decimal("396.610"), Decimal("18.1")),
]


def user(words: Words) -> User:
    return User(username="reporter", full_name=words.user)


def columns(words: Words) -> list[Column]:
    return [
        Column("unit", words.unit),
        Column("count", words.count, CellKind.INT),
        Column("tender", words.tender, CellKind.MONEY),
        Column("kwh", words.energy, CellKind.KWH),
        Column("day", words.day, CellKind.DATE),
        Column("sold_at", words.sold_at, CellKind.DATETIME),
        Column("share", words.share, CellKind.PERCENT),
        Column("note", "Note"),
    ]


def result(words: Words, *, currency: str = "KES", extra_rows: int = 0) -> ReportResult:
    rows = [
        ReportRow(
            {
                "unit": name,
                "count": count,
                "tender": tender,
                "kwh": kwh,
                "day": date(2026, 11, 30),
                "sold_at": SOLD_AT,
                "share": share,
                "note": HOSTILE[index],
            },
            depth=1,
        )
        for index, (name, (count, tender, kwh, share)) in enumerate(
            zip(words.names, FIGURES, strict=True)
        )
    ]
    rows += [
        ReportRow({"unit": f"{words.names[0]} {n}", "count": n, "note": HARMLESS[n % 2]}, depth=1)
        for n in range(extra_rows)
    ]
    sums = {
        "count": sum(f[0] for f in FIGURES),
        "tender": sum(f[1] for f in FIGURES),
        "kwh": sum((f[2] for f in FIGURES), Decimal(0)),
    }
    rows.append(ReportRow({"unit": words.subtotal, **sums}, role=RowRole.SUBTOTAL))
    rows.append(ReportRow({"unit": words.total, **sums}, role=RowRole.TOTAL))
    return ReportResult(
        slug="sales-by-point",
        title=words.title,
        generated_at=GENERATED_AT,
        generated_by=user(words),
        filters=[(words.period, "2026-11"), (words.region_label, words.region)],
        tables=[ReportTable(words.table, columns(words), rows, currency=currency)],
        notes=[words.note],
    )


def with_chart(words: Words) -> ReportResult:
    report = result(words)
    report.charts.append(
        ChartSpec(
            ChartKind.BAR,
            words.tender,
            list(words.names),
            [(words.tender, [Decimal(f[1]) / 100 for f in FIGURES])],
        )
    )
    return report
