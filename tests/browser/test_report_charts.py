"""Charts on a screen: shown as data: images under the screens' own Content-Security-Policy, they
keep their styles, load nothing and show Arabic and Chinese labels (screenshots kept)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from gridvend.reports import charts

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots" / "reports"

CASES = {
    "en": ("Tender by vending point", ["Kasarani office", "Ruaka agent", "<script>x()</script>"]),
    "ar": ("المبلغ حسب نقطة البيع", ["مكتب شبرا", "وكيل المطرية", "مكتب الزيتون"]),
    "zh-hans": ("按售电点统计的金额", ["海淀营业厅", "昌平代理", "顺义营业厅"]),
}


@pytest.mark.parametrize("language", list(CASES))
def test_a_chart_shows_on_a_screen_under_its_csp(page: Any, language: str) -> None:
    title, labels = CASES[language]
    series = [("2026-11", [12345, 9980, 4875]), ("2026-10", [11000, 10250, 5120])]
    images = [
        charts.data_uri(charts.bar_chart(title, labels, series)),
        charts.data_uri(charts.line_chart(title, labels, series)),
        charts.data_uri(charts.pie_or_share_chart(title, labels, series)),
    ]
    direction = "rtl" if language == "ar" else "ltr"
    # The screens' policy, less the one directive a <meta> cannot carry.
    policy = ";".join(
        part
        for part in settings.CONTENT_SECURITY_POLICY.split(";")
        if not part.strip().startswith("frame-ancestors")
    )
    document = (
        f'<!doctype html><html lang="{language}" dir="{direction}"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" '
        f'content="{html.escape(policy)}"></head><body>'
        + "".join(f'<img src="{uri}" width="800" height="400" alt="">' for uri in images)
        + "</body></html>"
    )
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requests.append(request.url[:40]))
    page.on("console", lambda message: problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.set_content(document)
    page.wait_for_load_state("load")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"charts-screen-{language}.png"), full_page=True)
    widths = page.eval_on_selector_all("img", "all => all.map(i => i.complete && i.naturalWidth)")
    assert widths == [800, 800, 800]
    assert not problems, problems
    assert all(url.startswith("data:") for url in requests), requests
    # Styled bars are filled with the series' colours (pygal draws them at 70% opacity on white),
    # not the black an SVG gets when its stylesheet is blocked: count the first one's blue.
    colour = page.evaluate(
        """() => { const img = document.images[0]; const c = document.createElement('canvas');
        c.width = 800; c.height = 400; const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, 800, 400).data; let hits = 0;
        for (let i = 0; i < d.length; i += 4) {
          if (d[i + 2] > d[i] + 60 && d[i + 2] > d[i + 1] + 30) hits++; }
        return hits; }"""
    )
    assert colour > 1000
