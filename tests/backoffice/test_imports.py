"""Bulk import: a dry run reports every row's problems and writes nothing; a confirmed import
writes every row or none."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook  # type: ignore[import-untyped]

from gridvend.batches import files as batch_files
from gridvend.customers.models import Customer, Premise
from gridvend.meters.models import Installation, Meter
from gridvend.web.backoffice import imports
from tests.backoffice.conftest import World, snapshot
from tests.masterdata import factories as md
from tests.signin import signed_in as client_for

pytestmark = pytest.mark.django_db

CUSTOMER_HEADER = [
    "account_number",
    "name",
    "category",
    "unit_code",
    "tariff_code",
    "phone",
    "address",
]


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _xlsx(header: list[str], rows: list[list[Any]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _customer_rows(world: World) -> list[list[str]]:
    unit = world.tree.north_sc.code
    tariff = world.tariff.code
    return [
        ["MIG-1", "Amina Wanjiru", "residential", unit, tariff, "+254700000001", "1 Market Rd"],
        ["MIG-2", "Baraka Mwangi", "commercial", unit, tariff, "", ""],
        ["", "Chebet Kip", "residential", unit, tariff, "", "3 Market Rd"],
    ]


def test_dry_run_of_a_good_file_writes_nothing(world: World) -> None:
    rows = imports.load("customers", "c.csv", _csv(CUSTOMER_HEADER, _customer_rows(world)))
    before = snapshot()
    report = imports.run_import(actor=world.care, kind="customers", rows=rows, commit=False)
    assert report.ok and report.rows == 3 and not report.committed
    assert snapshot() == before


def test_dry_run_reports_every_rows_errors_with_row_and_column(world: World) -> None:
    good = _customer_rows(world)
    south_unit = world.tree.south_sc.code
    rows = [
        good[0],
        ["MIG-9", "", "residential", good[0][3], good[0][4], "", ""],  # row 3: no name
        ["MIG-8", "Dan", "villa", good[0][3], good[0][4], "", ""],  # row 4: unknown category
        ["MIG-7", "Eve", "residential", south_unit, good[0][4], "", ""],  # row 5: other region
        ["MIG-6", "Fay", "residential", good[0][3], "no-such-tariff", "", ""],  # row 6
        ["MIG-1", "Gus", "residential", good[0][3], good[0][4], "", ""],  # row 7: MIG-1 again
        [world.north.customer.account_number, "Hal", "residential", good[0][3], good[0][4], "", ""],
    ]
    loaded = imports.load("customers", "c.csv", _csv(CUSTOMER_HEADER, rows))
    before = snapshot()
    report = imports.run_import(actor=world.care, kind="customers", rows=loaded, commit=False)
    found = {(e.row, e.column) for e in report.errors}
    assert found == {
        (3, "name"),
        (4, "category"),
        (5, "unit_code"),
        (6, "tariff_code"),
        (7, "account_number"),
        (8, "account_number"),
    }
    assert report.failed_rows == 6
    assert snapshot() == before


def test_confirmed_import_writes_every_row(world: World) -> None:
    rows = imports.load("customers", "c.csv", _csv(CUSTOMER_HEADER, _customer_rows(world)))
    customers_before, premises_before = Customer.objects.count(), Premise.objects.count()
    report = imports.run_import(actor=world.care, kind="customers", rows=rows, commit=True)
    assert report.committed
    assert Customer.objects.count() == customers_before + 3
    assert Premise.objects.count() == premises_before + 2
    assert Customer.objects.get(account_number="MIG-1").phone == "+254700000001"


def test_confirmed_import_with_one_bad_row_writes_nothing(world: World) -> None:
    rows = _customer_rows(world)
    rows.append(["MIG-4", "Dora", "residential", rows[0][3], rows[0][4], "", ""])
    rows.append(["MIG-5", "Ezra", "residential", rows[0][3], rows[0][4], "", ""])
    rows[-1][2] = "palace"
    loaded = imports.load("customers", "c.csv", _csv(CUSTOMER_HEADER, rows))
    before = snapshot()
    report = imports.run_import(actor=world.care, kind="customers", rows=loaded, commit=True)
    assert not report.committed and [e.row for e in report.errors] == [6]
    assert snapshot() == before


METER_HEADER = [
    "meter_number",
    "unit_code",
    "sgc",
    "ti",
    "krn",
    "key_ref",
    "phases",
    "account_number",
    "premise_id",
    "address",
]


def test_meters_from_xlsx_are_registered_and_installed(world: World) -> None:
    unit = world.tree.north_sc.code
    customer = world.north.customer.account_number
    rows: list[list[Any]] = [
        [md.meter_number(88_000_001), unit, "123456", 1, 1, "test-vk", 1, "", "", ""],
        [md.meter_number(88_000_002), unit, "123456", 1, 1, "test-vk", 3, customer, "", "9 Hill"],
        [
            md.meter_number(88_000_003),
            unit,
            "123456",
            1,
            1,
            "test-vk",
            1,
            customer,
            world.north.premise.pk,
            "",
        ],
    ]
    loaded = imports.load("meters", "m.xlsx", _xlsx(METER_HEADER, rows))
    dry = imports.run_import(actor=world.care, kind="meters", rows=loaded, commit=False)
    assert dry.ok, dry.errors
    installs = Installation.objects.count()
    report = imports.run_import(actor=world.care, kind="meters", rows=loaded, commit=True)
    assert report.committed
    numbers = [md.meter_number(88_000_001 + i) for i in range(3)]
    assert Meter.objects.filter(number__in=numbers).count() == 3
    assert Installation.objects.count() == installs + 2
    installed = Meter.objects.select_related("premise").get(number=md.meter_number(88_000_002))
    assert installed.premise is not None and installed.premise.address == "9 Hill"


def test_meter_rows_report_number_key_and_installation_problems(world: World) -> None:
    unit = world.tree.north_sc.code
    good = md.meter_number(88_000_011)
    bad_digit = good[:-1] + str((int(good[-1]) + 1) % 10)
    rows = [
        [bad_digit, unit, "123456", "1", "1", "test-vk", "1", "", "", ""],
        [md.meter_number(88_000_012), unit, "123456", "x", "1", "test-vk", "1", "", "", ""],
        [md.meter_number(88_000_013), unit, "123456", "1", "1", "no-key", "1", "", "", ""],
        [md.meter_number(88_000_014), unit, "123456", "1", "1", "test-vk", "7", "", "", ""],
        [md.meter_number(88_000_015), unit, "123456", "1", "1", "test-vk", "1", "NOPE", "", "x"],
        [
            md.meter_number(88_000_016),
            unit,
            "123456",
            "1",
            "1",
            "test-vk",
            "1",
            world.north.customer.account_number,
            "",
            "",
        ],
        [world.north.meter.number, unit, "123456", "1", "1", "test-vk", "1", "", "", ""],
    ]
    loaded = imports.load("meters", "m.csv", _csv(METER_HEADER, rows))
    before = snapshot()
    report = imports.run_import(actor=world.field, kind="meters", rows=loaded, commit=False)
    assert [(e.row, e.column) for e in report.errors] == [
        (2, "meter_number"),
        (3, "ti"),  # the register form's own field, as on the screen
        (4, "key_ref"),
        (5, "phases"),
        (6, "account_number"),
        (7, "address"),
        (8, "meter_number"),
    ]
    assert "check digit" in report.errors[0].message
    assert snapshot() == before


def _customer(world: World, **cells: str) -> list[str]:
    row = dict(zip(CUSTOMER_HEADER, _customer_rows(world)[0], strict=True))
    row.update(cells)
    return [row[name] for name in CUSTOMER_HEADER]


def _check_customers(
    world: World, rows: list[list[str]], header: list[str] = CUSTOMER_HEADER
) -> imports.ImportReport:
    loaded = imports.load("customers", "c.csv", _csv(header, rows))
    before = snapshot()
    report = imports.run_import(actor=world.care, kind="customers", rows=loaded, commit=True)
    assert not report.committed
    assert snapshot() == before
    return report


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("name", "Amina \u202euriknaW", "text-direction control"),
        ("name", "Amina\u2067 Wanjiru", "text-direction control"),
        ("name", "Amina\u200b Wanjiru", "invisible characters"),
        ("name", "Amina\x1b[2J", "control characters"),
        ("address", "Plot 12, \u202edaoR tekraM", "text-direction control"),
        ("phone", "+2547" + "0" * 28, "at most 32 characters"),
        ("account_number", "A" * 21, "at most 20 characters"),
        ("unit_code", "north\u202e", "text-direction control"),
    ],
)
def test_imported_customers_get_the_screens_text_checks(
    world: World, column: str, value: str, problem: str
) -> None:
    report = _check_customers(world, [_customer(world, **{column: value})])
    assert [(e.row, e.column) for e in report.errors] == [(2, column)]
    assert problem in report.errors[0].message


def test_a_national_id_longer_than_its_column_is_refused_beside_it(world: World) -> None:
    header = [*CUSTOMER_HEADER, "national_id", "latitude"]
    report = _check_customers(world, [[*_customer(world), "1" * 41, "-1.292066"]], header)
    assert [(e.row, e.column) for e in report.errors] == [(2, "national_id")]
    assert "at most 40 characters" in report.errors[0].message


def test_every_problem_of_a_row_is_reported_beside_its_column(world: World) -> None:
    header = [*CUSTOMER_HEADER, "national_id", "latitude", "longitude"]
    row = [
        "MIG-1",
        "Amina \u202euriknaW",
        "villa",
        "no-such-unit",
        "no-such-tariff",
        "+254 700 000 001 ext. 42 and more",
        "",
        "1" * 41,
        "91",
        "1e2",
    ]
    report = _check_customers(world, [[*_customer(world), "", "", ""], row], header)
    assert sorted(e.column for e in report.errors if e.row == 3) == [
        "address",
        "category",
        "latitude",
        "longitude",
        "name",
        "national_id",
        "phone",
        "tariff_code",
        "unit_code",
    ]
    assert report.failed_rows == 1


@pytest.mark.parametrize("phases", ["\u00b2", "\u0663", "1.0", "7", "-1"])
def test_meter_phases_are_read_like_the_screen_reads_them(world: World, phases: str) -> None:
    unit = world.tree.north_sc.code
    row = [md.meter_number(88_000_021), unit, "123456", "1", "1", "test-vk", phases, "", "", ""]
    loaded = imports.load("meters", "m.csv", _csv(METER_HEADER, [row]))
    before = snapshot()
    report = imports.run_import(actor=world.field, kind="meters", rows=loaded, commit=True)
    assert [(e.row, e.column) for e in report.errors] == [(2, "phases")]
    assert snapshot() == before


def test_a_bidi_override_in_an_installation_address_is_refused(world: World) -> None:
    unit = world.tree.north_sc.code
    customer = world.north.customer.account_number
    row = [md.meter_number(88_000_022), unit, "123456", "1", "1", "test-vk", "1", customer, ""]
    loaded = imports.load("meters", "m.csv", _csv(METER_HEADER, [[*row, "9 \u202elliH"]]))
    before = snapshot()
    report = imports.run_import(actor=world.field, kind="meters", rows=loaded, commit=True)
    assert [(e.row, e.column) for e in report.errors] == [(2, "address")]
    assert snapshot() == before


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("kind", ["customers", "meters"])
def test_the_template_example_row_passes_a_dry_run(world: World, kind: str, fmt: str) -> None:
    data = client_for(world.care).get(f"/imports/template-{kind}.{fmt}").content
    rows = imports.load(kind, f"template.{fmt}", data)
    assert len(rows) == 1
    # The example names the demo's unit, tariff and key; this world has its own.
    row = rows[0][1]
    row["unit_code"] = world.tree.north_sc.code
    if kind == "customers":
        row["tariff_code"] = world.tariff.code
    else:
        row["key_ref"] = "test-vk"
    report = imports.run_import(actor=world.admin, kind=kind, rows=rows, commit=False)
    assert report.ok, report.errors


# Reading files: bounded before anything is parsed ------------------------------------------------


class _CountingStream(io.BytesIO):
    """An upload that counts the bytes taken from it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.taken = 0

    def read(self, size: int | None = -1, /) -> bytes:
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk

    def read1(self, size: int | None = -1, /) -> bytes:
        chunk = super().read1(size)
        self.taken += len(chunk)
        return chunk


def test_a_nul_character_in_a_name_is_refused_beside_its_column(world: World) -> None:
    report = _check_customers(world, [_customer(world, name="Amina\x00 Wanjiru")])
    assert [(e.row, e.column) for e in report.errors] == [(2, "name")]
    assert "control characters" in report.errors[0].message


def test_a_10_kb_national_id_in_a_csv_file_is_refused_before_parsing(world: World) -> None:
    header = [*CUSTOMER_HEADER, "national_id"]
    good = [*_customer(world), ""]
    bad = [*_customer(world, account_number="MIG-2"), "1" * 10_000]
    report = _check_customers(world, [good, bad], header)
    assert report.rows == 2
    assert [e.row for e in report.errors] == [3]
    assert "more than 1000 characters" in report.errors[0].message


def test_a_10_kb_phone_in_an_xlsx_file_is_refused_beside_its_column(world: World) -> None:
    rows = [_customer(world, phone="7" * 10_000)]
    loaded = imports.load("customers", "c.xlsx", _xlsx(CUSTOMER_HEADER, rows))
    before = snapshot()
    report = imports.run_import(actor=world.care, kind="customers", rows=loaded, commit=True)
    assert [(e.row, e.column) for e in report.errors] == [(2, "phone")]
    assert "more than 1000 characters" in report.errors[0].message
    assert snapshot() == before


@pytest.mark.parametrize(
    "cell",
    [
        "x" * (128 * 1024 + 1),  # past the csv module's own default limit
        '"an opening quote that is never closed,' + "y" * 2000,
    ],
    ids=["128 kB field", "unclosed quote"],
)
def test_an_unsplittable_csv_line_is_a_row_error_on_the_screen(world: World, cell: str) -> None:
    lines = [",".join(CUSTOMER_HEADER), ",".join(_customer(world))]
    lines.append(",".join(_customer(world, account_number="MIG-2")[:-1]) + "," + cell)
    upload = io.BytesIO("\n".join(lines).encode())
    upload.name = "customers.csv"
    before = snapshot()
    response = client_for(world.care).post("/imports/", {"kind": "customers", "file": upload})
    assert response.status_code == 200
    report = response.context["report"]
    assert [(e.row, e.column) for e in report.errors] == [(3, "")]
    assert "cannot be read" in response.content.decode()
    assert 'action="/imports/confirm/"' not in response.content.decode()
    assert snapshot() == before


def test_the_import_screen_lists_every_problem_of_a_row_with_its_column(world: World) -> None:
    row = _customer(world, name="Amina \u202euriknaW", category="villa", phone="+" + "1" * 40)
    upload = io.BytesIO(_csv(CUSTOMER_HEADER, [row]))
    upload.name = "customers.csv"
    response = client_for(world.care).post("/imports/", {"kind": "customers", "file": upload})
    body = response.content.decode()
    for column in ("name", "category", "phone"):
        assert f'<bdi dir="ltr">{column}</bdi>' in body
    assert "text-direction control" in body and "at most 32 characters" in body


def test_a_file_over_the_byte_limit_is_refused_before_it_is_read(
    world: World, settings: Any
) -> None:
    settings.IMPORT_MAX_BYTES = 2000
    data = _csv(CUSTOMER_HEADER, [_customer(world)] * 40)
    assert len(data) > 2000
    stream = _CountingStream(data)
    with pytest.raises(imports.ImportFileError, match=r"larger than 2\.0"):
        imports.load("customers", "c.csv", stream)
    assert stream.taken == 0
    upload = io.BytesIO(data)
    upload.name = "customers.csv"
    before = snapshot()
    response = client_for(world.care).post("/imports/", {"kind": "customers", "file": upload})
    assert response.status_code == 200 and "report" not in response.context
    assert "larger than 2.0" in " ".join(response.context["form"].errors["file"])
    assert snapshot() == before


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_upload_kept_on_disk_is_read_in_place(world: World, settings: Any, fmt: str) -> None:
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # every upload becomes a temporary file
    rows = _customer_rows(world)
    data = _csv(CUSTOMER_HEADER, rows) if fmt == "csv" else _xlsx(CUSTOMER_HEADER, rows)
    upload = io.BytesIO(data)
    upload.name = f"customers.{fmt}"
    response = client_for(world.care).post("/imports/", {"kind": "customers", "file": upload})
    assert response.context["report"].ok and response.context["report"].rows == 3


def test_rows_past_the_row_cap_stop_the_reading(world: World) -> None:
    row = ",".join(_customer(world)) + "\n"
    data = (",".join(CUSTOMER_HEADER) + "\n" + row * (batch_files.MAX_ROWS + 1)).encode()
    stream = _CountingStream(data + row.encode() * 100_000)
    with pytest.raises(imports.ImportFileError, match=f"at most {batch_files.MAX_ROWS} rows"):
        imports.load("customers", "c.csv", stream)
    assert stream.taken < len(data) + 64 * 1024


def test_a_long_run_of_empty_rows_ends_the_data(world: World) -> None:
    blank = [""] * len(CUSTOMER_HEADER)
    rows = [_customer(world), blank, blank, _customer(world, account_number="MIG-2")]
    rows += [blank] * batch_files.MAX_BLANK_RUN + [_customer(world, account_number="MIG-3")]
    loaded = imports.load("customers", "c.csv", _csv(CUSTOMER_HEADER, rows))
    assert [number for number, _row in loaded] == [2, 5]


@pytest.fixture(scope="module")
def million_empty_rows() -> bytes:
    """A workbook of the customer header and a million empty rows, as openpyxl's write-only
    mode writes it: without a <dimension> element, so a reader cannot learn its size cheaply."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(CUSTOMER_HEADER)
    for _ in range(1_000_000):
        sheet.append([])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_a_million_empty_rows_are_not_all_read(million_empty_rows: bytes) -> None:
    stream = _CountingStream(million_empty_rows)
    with pytest.raises(imports.ImportFileError, match="no rows"):
        imports.load("customers", "c.xlsx", stream)
    # The sheet is most of the file; only its first few kilobytes were inflated.
    assert stream.taken < len(million_empty_rows) // 20


def test_a_workbook_that_unpacks_too_large_is_refused(settings: Any) -> None:
    settings.IMPORT_MAX_BYTES = 20_000
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(CUSTOMER_HEADER)
    for _ in range(300):
        sheet.append(["x" * 900] * len(CUSTOMER_HEADER))
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert len(buffer.getvalue()) <= 20_000
    with pytest.raises(imports.ImportFileError, match="too large once unpacked"):
        imports.load("customers", "c.xlsx", buffer.getvalue())


def test_a_csv_file_that_stops_being_utf8_is_refused_as_a_whole(world: World) -> None:
    data = _csv(CUSTOMER_HEADER, [_customer(world)] * 200) + b"\xff\xfe,broken\n"
    with pytest.raises(imports.ImportFileError, match="UTF-8"):
        imports.load("customers", "c.csv", data)


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("c.pdf", b"%PDF", "Upload a .csv or .xlsx file"),
        ("c.csv", b"", "empty"),
        ("c.csv", b"name,category\nA,residential\n", "unit_code, tariff_code"),
        ("c.csv", b"\xff\xfe\x00bad", "UTF-8"),
        ("c.xlsx", b"not a zip", "not a readable XLSX"),
        ("c.csv", ",".join(CUSTOMER_HEADER).encode() + b"\n", "no rows"),
    ],
)
def test_unreadable_files_are_refused_as_a_whole(name: str, data: bytes, problem: str) -> None:
    with pytest.raises(imports.ImportFileError, match=problem):
        imports.load("customers", name, data)


def test_upload_then_confirm_through_the_screens(world: World) -> None:
    client = client_for(world.care)
    upload = io.BytesIO(_csv(CUSTOMER_HEADER, _customer_rows(world)))
    upload.name = "customers.csv"
    before = snapshot()
    response = client.post("/imports/", {"kind": "customers", "file": upload})
    assert response.status_code == 200
    assert "Nothing has been written yet" in response.content.decode()
    assert snapshot() == before
    token = response.context["token"]
    response = client.post("/imports/confirm/", {"token": token})
    assert "3 rows imported" in response.content.decode()
    assert Customer.objects.filter(account_number__in=["MIG-1", "MIG-2"]).count() == 2
    # The same confirmation cannot run twice.
    again = client.post("/imports/confirm/", {"token": token})
    assert again.status_code == 302
    assert Customer.objects.filter(account_number="MIG-1").count() == 1


def test_upload_with_errors_shows_the_report_and_offers_no_confirmation(world: World) -> None:
    rows = _customer_rows(world)
    rows[1][1] = ""
    upload = io.BytesIO(_csv(CUSTOMER_HEADER, rows))
    upload.name = "customers.csv"
    response = client_for(world.care).post("/imports/", {"kind": "customers", "file": upload})
    body = response.content.decode()
    assert "1 of 3 rows have problems" in body and "import-confirm" not in body
    assert 'action="/imports/confirm/"' not in body


@pytest.mark.parametrize("kind", ["customers", "meters"])
def test_template_files_carry_the_expected_columns(world: World, kind: str) -> None:
    client = client_for(world.care)
    expected = [name for name, _required in imports.COLUMNS[kind]]
    text = client.get(f"/imports/template-{kind}.csv").content.decode("utf-8-sig")
    assert next(csv.reader(io.StringIO(text))) == expected
    data = client.get(f"/imports/template-{kind}.xlsx").content
    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    assert [c for c in next(sheet.iter_rows(values_only=True))] == expected
