"""XLSX copies of the CSVs people open (payments, review queue, holds, exclusions): Excel cannot mangle them.

A spreadsheet opening a CSV guesses types: bank code `004` becomes 4 and a 14-digit account number turns
into 1.10432E+13. In these workbooks every code and account cell is a text cell (written as a string, its
number format `@`, the whole column formatted `@` so a cell typed into it stays text), amounts are whole-won
numbers with a totals row under them, the header is frozen and filterable. Nothing is ever written as a
formula: every string is stored as text, whatever it starts with.

The bytes depend only on the inputs: the workbook's dates are fixed (the day given, else 2000-01-01) and the
zip entries carry xlsxwriter's fixed 1980 timestamp (in-memory workbooks).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import IO, Any

from etl.core import contract as c
from etl.core.errors import ReliefError

TEXT_FORMAT = "@"
AMOUNT_FORMAT = "#,##0"
MAX_ROWS = 1_048_576  # Excel's rows a sheet
MAX_CELL = 32_767  # Excel's characters a cell
WIDTH_SAMPLE_ROWS = (
    2_000  # column widths fit the first rows: measuring every cell of a long sheet cost more than writing it
)
TRUNCATED = " …[truncated]"
FIXED_DATE = dt.date(2000, 1, 1)
_WHOLE = re.compile(r"[+-]?[0-9]+")
_SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")

# The CSVs people open, and how their copies are typed: (text columns, amount columns), by CSV name.
XLSX_COPIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    c.PAYMENTS_CSV: (
        ("payment_id", "claimant_key", "business_reg_no", "bank_code", "account_no", "basis", "run_date"),
        ("amount_krw",),
    ),
    c.REVIEW_QUEUE_CSV: (
        ("claimant_key", "business_reg_no", "receipt_nos", "pending_since"),
        ("loss_krw", "already_paid_krw"),
    ),
    c.HOLDS_CSV: (("claimant_key", "business_reg_no", "held_on"), ("loss_krw", "entitlement_krw", "already_paid_krw")),
    c.OVER_CAP_CSV: (("claimant_key", "business_reg_no", "basis"), ("amount_krw",)),
    c.AFFILIATE_CSV: (("receipt_no", "received_at", "claimant_key"), ("claimed_loss_krw",)),
    c.REJECTED_CSV: (("source_file", "raw_row"), ()),
}


def new_workbook(target: IO[bytes], title: str, day: dt.date | None = None) -> Any:
    """An xlsxwriter workbook writing to `target`, its properties fixed (title, dates: `day` at midnight UTC)."""
    import xlsxwriter  # a light import, but only the report builders need it

    wb = xlsxwriter.Workbook(
        target, {"in_memory": True, "strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False}
    )
    created = dt.datetime.combine(day or FIXED_DATE, dt.time(), tzinfo=dt.UTC)
    wb.set_properties({"title": title, "author": "outage-relief", "created": created})
    return wb


def sheet_name(title: str) -> str:
    """A valid, unique-enough sheet name: Excel's forbidden characters replaced, at most 31 characters."""
    name = _SHEET_NAME_BAD.sub("_", title).strip("'") or "Sheet1"
    return name[:31]


def _width(text: str) -> int:
    """Display width in characters: a Hangul or other wide character counts two."""
    if text.isascii():  # most cells (codes, ids, amounts): no character by character
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - len(TRUNCATED)] + TRUNCATED


def _whole(value: Any) -> int | None:
    """An amount as a whole number of won, or None when it is not one (then it is kept as text)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        return int(value.strip())
    return None


class Sheet:
    """Adds formatted sheets to one workbook (the formats are made once per workbook)."""

    def __init__(self, wb: Any):
        self.wb = wb
        self.header = wb.add_format({"bold": True, "bg_color": "#F4F6F8", "bottom": 1, "text_wrap": False})
        self.text = wb.add_format({"num_format": TEXT_FORMAT})
        self.amount = wb.add_format({"num_format": AMOUNT_FORMAT})
        self.total_label = wb.add_format({"bold": True, "top": 2})
        self.total_amount = wb.add_format({"bold": True, "top": 2, "num_format": AMOUNT_FORMAT})
        self.total_blank = wb.add_format({"top": 2})

    def add(
        self,
        name: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any] | Mapping[str, Any]],
        text_columns: Collection[str] = (),
        amount_columns: Collection[str] = (),
        total_columns: Collection[str] | None = None,
        totals: Mapping[str, int] | None = None,
    ) -> Any:
        """A sheet: the header (frozen, filterable), the rows, then a totals row summing `total_columns`
        (default: the amount columns; empty: no totals row), `totals` giving a column's total where a sum
        is not one (distinct counts). Rows are sequences in column order or mappings."""
        unknown = (set(text_columns) | set(amount_columns) | set(total_columns or ())) - set(columns)
        if unknown:
            raise ValueError(f"sheet {name}: no column(s) {', '.join(sorted(unknown))}")
        totals_of = set(amount_columns if total_columns is None else total_columns)
        ws = self.wb.add_worksheet(sheet_name(name))
        kinds = ["text" if c in text_columns else "amount" if c in amount_columns else "plain" for c in columns]
        widths = [_width(c) for c in columns]
        sums = [0] * len(columns)
        for col, title in enumerate(columns):
            ws.write_string(0, col, title, self.header)
        n = 0
        for n, row in enumerate(rows, start=1):  # n: the rows written, after the loop
            if n + 1 >= MAX_ROWS:
                raise ReliefError(f"sheet {name}: more rows than a worksheet holds ({MAX_ROWS - 2:,})")
            values = [row.get(c) for c in columns] if isinstance(row, Mapping) else list(row)
            measure = n <= WIDTH_SAMPLE_ROWS
            for col, (value, kind) in enumerate(zip(values, kinds)):
                width = self._cell(ws, n, col, value, kind, sums, measure)
                if width > widths[col]:
                    widths[col] = width
        if totals_of:
            ws.write_string(n + 1, 0, "total", self.total_label)
            for col, column in enumerate(columns[1:], start=1):
                if column in totals_of:
                    ws.write_number(n + 1, col, (totals or {}).get(column, sums[col]), self.total_amount)
                else:
                    ws.write_blank(n + 1, col, None, self.total_blank)
        for col, kind in enumerate(kinds):
            fmt = self.text if kind == "text" else self.amount if kind == "amount" else None
            ws.set_column(col, col, min(max(widths[col], 6) + 2, 60), fmt)
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, n, len(columns) - 1)
        return ws

    def _cell(self, ws: Any, row: int, col: int, value: Any, kind: str, sums: list[int], measure: bool = True) -> int:
        """Write one cell; return its width in characters (0 when not `measure`d)."""
        if value is None or value == "":
            if kind == "text":
                ws.write_blank(row, col, None, self.text)
            return 0
        if kind == "text":
            text = _text(value)
            ws.write_string(row, col, text, self.text)
            return _width(text) if measure else 0
        if kind == "amount":
            amount = _whole(value)
            if amount is not None:
                sums[col] += amount
                ws.write_number(row, col, amount, self.amount)
                return len(f"{amount:,}")
        elif isinstance(value, int) and not isinstance(value, bool):
            sums[col] += value
            ws.write_number(row, col, value)
            return len(str(value))
        elif isinstance(value, float):
            ws.write_number(row, col, value)
            return len(repr(value))
        text = _text(("true" if value else "false") if isinstance(value, bool) else value)
        ws.write_string(row, col, text)
        return _width(text) if measure else 0


def sheet_xlsx(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any] | Mapping[str, Any]],
    text_columns: Collection[str] = (),
    amount_columns: Collection[str] = (),
    *,
    day: dt.date | None = None,
) -> bytes:
    """One sheet named after `title`: a copy of a CSV people open, safe from a spreadsheet's guessing.

    `text_columns` (codes, account numbers, ids, dates as given) are text cells formatted `@`; `amount_columns`
    are whole-won numbers with a totals row; anything else is written as it is (str as text, int as a number).
    Pass the values as the ledger holds them (not the CSV's `'`-prefixed cells): no cell is ever a formula.
    `day` dates the workbook's properties (default 2000-01-01): the same inputs give the same bytes.
    """
    buf = io.BytesIO()
    wb = new_workbook(buf, title, day)
    Sheet(wb).add(title, columns, rows, text_columns, amount_columns)
    wb.close()
    return buf.getvalue()


def xlsx_copy(csv_name: str, columns: Sequence[str], rows: Iterable[Sequence[Any] | Mapping[str, Any]],
              day: dt.date | None = None) -> bytes:  # fmt: skip
    """The XLSX copy of one of the outbox's CSVs (XLSX_COPIES says how its columns are typed), one sheet
    named after the CSV and the day."""
    text_columns, amount_columns = XLSX_COPIES[csv_name]
    title = csv_name.removesuffix(".csv") + (f" {day.isoformat()}" if day else "")
    return sheet_xlsx(title, columns, rows, text_columns, amount_columns, day=day)
