"""XLSX copies of the CSVs people open: codes and accounts stay text, amounts are numbers with a totals row."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest

from etl.core import contract as c
from etl.core.errors import ReliefError
from etl.reports import sheets
from etl.reports.sheets import (
    MAX_CELL,
    TRUNCATED,
    WIDTH_SAMPLE_ROWS,
    XLSX_COPIES,
    sheet_name,
    sheet_xlsx,
    xlsx_copy,
)
from tests.builders import claim, make_brn

openpyxl = pytest.importorskip("openpyxl")

REPO = Path(__file__).resolve().parents[3]
DAY = "2022-10-15"
BIZ = [make_brn(n) for n in range(301, 306)]


def _open(data: bytes):
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert len(wb.worksheets) == 1
    return wb.worksheets[0]


def _table(ws) -> tuple[list[str], list[dict], dict]:
    """Header, data rows (as dicts of cells) and the totals row (as a dict of values)."""
    header = [cell.value for cell in ws[1]]
    rows = [dict(zip(header, row)) for row in ws.iter_rows(min_row=2, max_row=ws.max_row - 1)]
    total = dict(zip(header, (cell.value for cell in ws[ws.max_row])))
    return header, rows, total


@pytest.fixture
def day_run(ws, program):
    ws.deliver(
        DAY,
        [
            claim(receipt_no="R1", business_reg_no=BIZ[0], claimed_loss_krw=100_000, bank_code="004",
                  account_no="0012-345-678901"),
            claim(receipt_no="R2", business_reg_no=BIZ[1], claimed_loss_krw=400_000, bank_code="020",
                  claimant_name="=HYPERLINK(\"http://x\")"),
            claim(receipt_no="R3", business_reg_no=BIZ[2], claimed_loss_krw=900_000),
            claim(receipt_no="R4", business_reg_no=BIZ[3], claimed_loss_krw=2_500_000),
            claim(receipt_no="R5", business_reg_no=BIZ[4], service="kakao_t", claimed_loss_krw=150_000),
        ],
    )  # fmt: skip
    ws.run(program, DAY)
    return ws


def test_a_payments_copy_keeps_bank_codes_and_accounts_as_text(day_run):
    rows = day_run.payments(DAY)
    data = xlsx_copy(c.PAYMENTS_CSV, c.PAYMENT_COLUMNS, rows, dt.date(2022, 10, 15))
    ws = _open(data)
    assert ws.title == "payments 2022-10-15"
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:J3"
    header, cells, total = _table(ws)
    assert header == c.PAYMENT_COLUMNS
    by_code = {r["bank_code"].value: r for r in cells}
    assert set(by_code) == {"004", "020"}
    first = by_code["004"]
    assert first["account_no"].value == "0012345678901" and first["account_no"].data_type == "s"
    for col in XLSX_COPIES[c.PAYMENTS_CSV][0]:
        for r in cells:
            assert r[col].data_type == "s" and r[col].number_format == "@", col
            assert isinstance(r[col].value, str)
    assert all(isinstance(r["amount_krw"].value, int) and r["amount_krw"].number_format == "#,##0" for r in cells)
    assert total["payment_id"] == "total" and total["amount_krw"] == 80_000 == sum(int(p["amount_krw"]) for p in rows)
    # The payee name that looks like a formula is text in the copy (as the CSV wrote it, made inert).
    name = by_code["020"]["payee_name"]
    assert name.data_type == "s" and name.value.endswith('=HYPERLINK("http://x")')
    # The whole code columns are text-formatted (a cell typed in later stays text).
    assert ws.column_dimensions["E"].number_format == "@" and ws.column_dimensions["F"].number_format == "@"


def test_copies_of_the_review_queue_holds_and_exclusions(day_run):
    day = dt.date(2022, 10, 15)
    queue = day_run.csv_rows("reviews", DAY, c.REVIEW_QUEUE_CSV)
    _, cells, total = _table(_open(xlsx_copy(c.REVIEW_QUEUE_CSV, c.REVIEW_QUEUE_COLUMNS, queue, day)))
    assert {r["business_reg_no"].value for r in cells} == {BIZ[2], BIZ[3]}
    assert all(r["business_reg_no"].number_format == "@" for r in cells)
    assert total["loss_krw"] == 3_400_000 and total["already_paid_krw"] == 0 and total["services"] is None
    excluded = day_run.csv_rows("exclusions", DAY, c.AFFILIATE_CSV)
    _, cells, total = _table(_open(xlsx_copy(c.AFFILIATE_CSV, c.AFFILIATE_COLUMNS, excluded, day)))
    assert [(r["receipt_no"].value, r["claimed_loss_krw"].value) for r in cells] == [("R5", 150_000)]
    assert total["claimed_loss_krw"] == 150_000
    holds = day_run.csv_rows("reviews", DAY, c.HOLDS_CSV)
    ws = _open(xlsx_copy(c.HOLDS_CSV, c.HOLDS_COLUMNS, holds, day))
    assert [cell.value for cell in ws[1]] == c.HOLDS_COLUMNS and ws["A2"].value == "total"


def test_every_copy_names_columns_of_its_csv():
    columns = {
        c.PAYMENTS_CSV: c.PAYMENT_COLUMNS, c.REVIEW_QUEUE_CSV: c.REVIEW_QUEUE_COLUMNS, c.HOLDS_CSV: c.HOLDS_COLUMNS,
        c.OVER_CAP_CSV: c.OVER_CAP_COLUMNS, c.AFFILIATE_CSV: c.AFFILIATE_COLUMNS, c.REJECTED_CSV: c.REJECTED_COLUMNS,
    }  # fmt: skip
    for name, (text, amounts) in XLSX_COPIES.items():
        assert set(text) | set(amounts) <= set(columns[name]), name


def test_cells_are_never_formulas_and_odd_values_are_kept():
    long = "x" * (MAX_CELL + 10)
    rows = [
        ["=SUM(A1:A9)", "004", "1,5", "", long],
        {"name": "+82 10", "code": "0001", "amount": "30000", "note": None, "raw": "-1"},
        ["@cmd", 7, 12, True, "\t tab"],
    ]
    ws = _open(sheet_xlsx("odd/rows: [test]", ["name", "code", "amount", "note", "raw"], rows, ["code"], ["amount"]))
    assert ws.title == "odd_rows_ _test_"
    values = list(ws.iter_rows(min_row=2, max_row=4))
    assert [cell.data_type for cell in values[0]][:3] == ["s", "s", "s"]  # "1,5" is not whole won: kept as text
    assert values[0][0].value == "=SUM(A1:A9)" and values[2][0].value == "@cmd"
    assert values[0][4].value.endswith(TRUNCATED) and len(values[0][4].value) == MAX_CELL
    assert (values[1][0].value, values[1][1].value, values[1][2].value) == ("+82 10", "0001", 30000)
    assert values[1][4].value == "-1" and values[1][4].data_type == "s"
    assert values[2][1].value == "7" and values[2][1].number_format == "@"  # a text column: even an int
    assert values[2][3].value == "true"
    total = [cell.value for cell in ws[5]]
    assert total[:3] == ["total", None, 30012]
    with zipfile.ZipFile(io.BytesIO(sheet_xlsx("t", ["a"], [["=1+1"]]))) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet


def test_empty_sheets_unknown_columns_and_names():
    ws = _open(sheet_xlsx("payments 2022-10-15", ["payment_id", "amount_krw"], [], ["payment_id"], ["amount_krw"]))
    assert [cell.value for cell in ws[2]] == ["total", 0] and ws.max_row == 2
    ws = _open(sheet_xlsx("no amounts", ["a"], [["x"]], ["a"]))
    assert ws.max_row == 2  # no amount column: no totals row
    with pytest.raises(ValueError, match="no column"):
        sheet_xlsx("t", ["a"], [], ["b"])
    assert sheet_name("a" * 40) == "a" * 31 and sheet_name("''") == "Sheet1"


def test_the_same_rows_give_the_same_bytes():
    rows = [["P1015-20221015-0000001", "004", "110432118290", 30000]]
    args = ("payments 2022-10-15", ["payment_id", "bank_code", "account_no", "amount_krw"], rows,
            ["payment_id", "bank_code", "account_no"], ["amount_krw"])  # fmt: skip
    first = sheet_xlsx(*args, day=dt.date(2022, 10, 15))
    assert sheet_xlsx(*args, day=dt.date(2022, 10, 15)) == first
    assert sheet_xlsx(*args) == sheet_xlsx(*args) != first  # the day dates the workbook
    with zipfile.ZipFile(io.BytesIO(first)) as z:
        assert "2022-10-15T00:00:00Z" in z.read("docProps/core.xml").decode()
        assert {info.date_time for info in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}


# --- the fast writer (fast_xlsx): what xlsxwriter gave, at a fraction of its time ------------------------------


def _parts(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: z.read(name).decode() for name in z.namelist()}


def test_a_copy_holds_the_parts_excel_expects():
    parts = _parts(sheet_xlsx("payments 2022-10-15", ["a", "amount"], [["x", 1], ["y", 2]], ["a"], ["amount"]))
    assert set(parts) == {
        "[Content_Types].xml", "_rels/.rels", "docProps/core.xml", "docProps/app.xml", "xl/workbook.xml",
        "xl/_rels/workbook.xml.rels", "xl/styles.xml", "xl/worksheets/sheet1.xml", "xl/sharedStrings.xml",
    }  # fmt: skip
    assert (
        '<definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
        "'payments 2022-10-15'!$A$1:$B$3</definedName>"
    ) in parts["xl/workbook.xml"]
    sheet = parts["xl/worksheets/sheet1.xml"]
    assert '<dimension ref="A1:B4"/>' in sheet and '<autoFilter ref="A1:B3"/>' in sheet
    assert "<dc:creator>outage-relief</dc:creator>" in parts["docProps/core.xml"]
    for text in parts.values():  # every part is well-formed XML
        ElementTree.fromstring(text.encode())


def test_control_characters_give_a_file_that_loads():
    odd = ["a\x00b\x01c\x08d\x0be\x0cf\x1fg", "cr\r\nlf", "\ttab and space ", "_x0041_ stays literal", "\ufffe\ud800"]
    data = sheet_xlsx("odd", ["text", "plain"], [[s, s] for s in odd], ["text"])
    ws = _open(data)
    texts = [ws.cell(row=n, column=1).value for n in range(2, 2 + len(odd))]
    assert texts[0] == "a_x0000_b_x0001_c_x0008_d_x000B_e_x000C_f_x001F_g"  # Excel's escape, as xlsxwriter writes
    assert texts[1] == "cr_x000D_\nlf" and texts[2] == "\ttab and space " and texts[3] == "_x0041_ stays literal"
    assert texts[4] == "_xFFFE__xD800_"  # a non-character; a lone surrogate, which UTF-8 cannot hold
    assert [ws.cell(row=n, column=2).value for n in range(2, 2 + len(odd))] == texts
    for text in _parts(data).values():
        ElementTree.fromstring(text.encode())


def test_a_cell_over_excels_limit_is_truncated():
    long = "가" * MAX_CELL + "끝"
    ws = _open(sheet_xlsx("long", ["code", "note"], [[long, "x" * (MAX_CELL + 1)]], ["code"]))
    for cell in ws[2]:
        assert len(cell.value) == MAX_CELL and cell.value.endswith(TRUNCATED) and cell.data_type == "s"
    assert ws.column_dimensions["A"].width < 61  # at most 60 characters wide


def test_a_large_copy_round_trips_with_its_totals():
    rows = [[f"P{i:07d}", f"{i % 1000:03d}", 10_000 + i, str(i), i % 7] for i in range(50_000)]
    columns = ["payment_id", "bank_code", "amount_krw", "already_paid_krw", "claims"]
    data = sheet_xlsx("big", columns, rows, ["payment_id", "bank_code"], ["amount_krw", "already_paid_krw"])
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    got = list(wb.worksheets[0].iter_rows(values_only=True))
    wb.close()
    assert got[0] == tuple(columns) and len(got) == 50_002
    assert got[1] == ("P0000000", "000", 10_000, 0, 0) and got[50_000] == ("P0049999", "999", 59_999, 49_999, 5)
    assert got[-1] == ("total", None, sum(r[2] for r in rows), sum(range(50_000)), None)  # other ints: no total
    assert _parts(data)["xl/worksheets/sheet1.xml"].count("<row ") == 50_002


def test_widths_fit_the_numbers_past_the_sample_and_the_totals():
    rows = [["a", 1]] * WIDTH_SAMPLE_ROWS + [["b", 123_456_789_012]]
    ws = _open(sheet_xlsx("w", ["id", "amount"], rows, ["id"], ["amount"]))
    assert ws.column_dimensions["B"].width == pytest.approx(len("123,456,789,012") + 2, abs=1)  # the total's
    ws = _open(sheet_xlsx("w", ["id", "n"], [["a", 1]] * WIDTH_SAMPLE_ROWS + [["b", 10**20]], ["id"]))
    assert ws.column_dimensions["B"].width == pytest.approx(len(str(10**20)) + 2, abs=1)  # no totals row


def test_too_many_rows_is_an_error(monkeypatch):
    monkeypatch.setattr(sheets, "MAX_ROWS", 5)
    with pytest.raises(ReliefError, match="more rows than a worksheet holds"):
        sheet_xlsx("t", ["a"], [["x"]] * 4)


def test_both_writers_type_and_format_cells_alike():
    """The fast copies and the xlsxwriter workbooks (the finance report) share their typing rules and formats."""
    columns = ["name", "code", "amount", "note", "raw", "ratio"]
    rows = [
        ["=SUM(A1:A9)", "004", "1,5", "", "x" * (MAX_CELL + 3), 0.25],
        {"name": "+82 10", "code": 1, "amount": " 30000 ", "note": None, "raw": "-1", "ratio": float("nan")},
        ["@cmd", None, 12, True, "a\x01b", 3],
        ["short"],
    ]
    args = ("t", columns, rows, ["code"], ["amount"])
    fast = _open(sheet_xlsx(*args))
    buf = io.BytesIO()
    wb = sheets.new_workbook(buf, "t")
    sheets.Sheet(wb).add(*args)
    wb.close()
    slow = _open(buf.getvalue())

    def look(ws):
        cells = [
            (c.coordinate, c.value, c.data_type, c.number_format, bool(c.font.b), c.border.top.style)
            for row in ws.iter_rows() for c in row if c.value is not None
        ]  # fmt: skip
        dims = {k: (round(d.width, 2), d.number_format) for k, d in ws.column_dimensions.items()}
        return cells, dims, ws.freeze_panes, ws.auto_filter.ref

    assert look(fast) == look(slow)


def test_the_bytes_do_not_depend_on_the_process():
    """Nothing in a copy follows set or hash order: another process (another hash seed) writes the same bytes."""
    probe = (
        "import hashlib, sys; from etl.reports.sheets import sheet_xlsx; "
        "rows = [[f'K{i}', str(i % 3), i, {i % 2: 'x'}.get(1)] for i in range(300)]; "
        "print(hashlib.sha256(sheet_xlsx('t', ['k', 'code', 'amount', 'note'], rows, ['k', 'code'], ['amount']))"
        ".hexdigest())"
    )
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        digests.add(out.stdout.strip())
    assert len(digests) == 1
