"""XLSX copies of the CSVs people open (payments, review queue, holds, exclusions): Excel cannot mangle them.

A spreadsheet opening a CSV guesses types: bank code `004` becomes 4 and a 14-digit account number turns
into 1.10432E+13. In these workbooks every code and account cell is a text cell (written as a string, its
number format `@`, the whole column formatted `@` so a cell typed into it stays text), amounts are whole-won
numbers with a totals row under them, the header is frozen and filterable. Nothing is ever written as a
formula: every string is stored as text, whatever it starts with.

The bytes depend only on the inputs: the workbook's dates are fixed (the day given, else 2000-01-01) and the
zip entries carry a fixed 1980 timestamp. The one-sheet copies are written by fast_xlsx (xlsxwriter took ~8 µs
a cell; the copies run to millions of cells); the finance workbook (charts) by xlsxwriter, through `Sheet`.
Both take their typing rules (_TYPED, through _Columns) and their formats (FORMATS) from here.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

from etl.core import contract as c
from etl.core.errors import ReliefError
from etl.reports.fast_xlsx import MAX_ROWS, Cell, SheetWriter

TEXT_FORMAT = "@"
AMOUNT_FORMAT = "#,##0"
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


# The copies' formats, in xlsxwriter's vocabulary: both writers (Sheet, fast_xlsx) take them from here.
FORMATS: dict[str, dict[str, Any]] = {
    "header": {"bold": True, "bg_color": "#F4F6F8", "bottom": 1},
    "text": {"num_format": TEXT_FORMAT},
    "amount": {"num_format": AMOUNT_FORMAT},
    "total_label": {"bold": True, "top": 2},
    "total_amount": {"bold": True, "top": 2, "num_format": AMOUNT_FORMAT},
    "total_blank": {"top": 2},
}
_COLUMN_FORMAT = {"text": "text", "amount": "amount", "plain": None}  # a column's kind: its cells' format


def _as_text(value: Any) -> Cell:
    return _text(("true" if value else "false") if isinstance(value, bool) else value)


def _typed_text(value: Any) -> Cell:
    if type(value) is str and 0 < len(value) <= MAX_CELL:  # nearly every cell: no further look
        return value
    return None if value is None or value == "" else _text(value)


def _typed_amount(value: Any) -> Cell:
    if type(value) is int:
        return value
    if value is None or value == "":
        return None
    amount = _whole(value)
    return _as_text(value) if amount is None else amount


def _typed_plain(value: Any) -> Cell:
    if type(value) is str and 0 < len(value) <= MAX_CELL:
        return value
    if value is None or value == "":
        return None
    if (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and math.isfinite(value)):
        return value
    return _as_text(value)


# What a cell of each kind of column holds: None (no value), a str (a text cell: never a formula), an int or a
# float (a number). Text columns hold text whatever the value; amount columns whole won (else the value as
# text); other columns ints and finite floats as numbers, bools as "true"/"false", anything else as text.
_TYPED = {"text": _typed_text, "amount": _typed_amount, "plain": _typed_plain}


class _Columns:
    """One sheet's columns as both writers type them: each column's kind, and the widths (the header's, the
    first WIDTH_SAMPLE_ROWS rows' texts, every number) and sums (every int) of the cells typed."""

    def __init__(
        self,
        name: str,
        columns: Sequence[str],
        text_columns: Collection[str],
        amount_columns: Collection[str],
        total_columns: Collection[str] | None,
    ):
        unknown = (set(text_columns) | set(amount_columns) | set(total_columns or ())) - set(columns)
        if unknown:
            raise ValueError(f"sheet {name}: no column(s) {', '.join(sorted(unknown))}")
        self.name = name
        self.columns = list(columns)
        self.kinds = ["text" if c in text_columns else "amount" if c in amount_columns else "plain" for c in columns]
        self.formats = [_COLUMN_FORMAT[kind] for kind in self.kinds]
        self.totals_of = set(amount_columns if total_columns is None else total_columns)
        self.widths = [_width(c) for c in columns]
        self.sums = [0] * len(columns)
        self.rows = 0
        # The largest and smallest int of each column: the widest of its ints is one of them.
        self._high = [0] * len(columns)
        self._low = [0] * len(columns)

    def typed_rows(self, rows: Iterable[Sequence[Any] | Mapping[str, Any]]) -> Iterator[list[Cell]]:
        """The rows' cells typed (rows are sequences in column order or mappings; a short row is padded with
        None), measured and summed as they go."""
        typers = [_TYPED[kind] for kind in self.kinds]
        width = len(self.columns)
        number_columns = [col for col, kind in enumerate(self.kinds) if kind != "text"]
        sums, high, low = self.sums, self._high, self._low
        for n, row in enumerate(rows, start=1):
            if n + 1 >= MAX_ROWS:
                raise ReliefError(f"sheet {self.name}: more rows than a worksheet holds ({MAX_ROWS - 2:,})")
            values = [row.get(c) for c in self.columns] if isinstance(row, Mapping) else row
            cells = [typed(value) for typed, value in zip(typers, values)]
            if len(cells) < width:
                cells += [None] * (width - len(cells))
            if n <= WIDTH_SAMPLE_ROWS:
                self._measure(cells)
            for col in number_columns:  # after the sample, only numbers are measured
                cell = cells[col]
                if isinstance(cell, int):
                    sums[col] += cell
                    if cell > high[col]:
                        high[col] = cell
                    elif cell < low[col]:
                        low[col] = cell
                elif isinstance(cell, float):
                    self.widths[col] = max(self.widths[col], _cell_width(cell, "plain"))
            self.rows = n
            yield cells

    def _measure(self, cells: Sequence[Cell]) -> None:
        for col, cell in enumerate(cells):
            if isinstance(cell, str):
                self.widths[col] = max(self.widths[col], _width(cell))

    def totals_row(self, totals: Mapping[str, int] | None) -> tuple[list[Cell], list[str]] | None:
        """The totals row's cells and formats, None when no column is totalled. Measured too: a number
        wider than its column shows as ####."""
        if not self.totals_of:
            return None
        cells: list[Cell] = ["total"]
        formats = ["total_label"]
        for col, column in enumerate(self.columns[1:], start=1):
            if column in self.totals_of:
                cells.append((totals or {}).get(column, self.sums[col]))
                formats.append("total_amount")
            else:
                cells.append(None)
                formats.append("total_blank")
        for col, cell in enumerate(cells):
            if cell is not None:
                self.widths[col] = max(self.widths[col], _cell_width(cell, "amount"))
        return cells, formats

    def column_widths(self) -> list[int]:
        """Each column's width in characters: its widest cell measured, at least 6, plus 2, at most 60."""
        widths = [
            max(width, _cell_width(self._high[col], kind), _cell_width(self._low[col], kind))
            for col, (width, kind) in enumerate(zip(self.widths, self.kinds))
        ]
        return [min(max(width, 6) + 2, 60) for width in widths]


def _cell_width(cell: str | int | float, kind: str) -> int:
    """A typed cell's display width in characters (an amount with its thousands separators)."""
    if isinstance(cell, str):
        return _width(cell)
    if isinstance(cell, float):
        return len(repr(cell))
    return len(f"{cell:,}") if kind == "amount" else len(str(cell))


class Sheet:
    """Adds formatted sheets to one xlsxwriter workbook (the formats are made once per workbook)."""

    def __init__(self, wb: Any):
        self.wb = wb
        self.formats = {name: wb.add_format(spec) for name, spec in FORMATS.items()}

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
        table = _Columns(name, columns, text_columns, amount_columns, total_columns)
        ws = self.wb.add_worksheet(sheet_name(name))
        for col, title in enumerate(columns):
            ws.write_string(0, col, title, self.formats["header"])
        data_formats = [self.formats[f] if f else None for f in table.formats]
        for n, cells in enumerate(table.typed_rows(rows), start=1):
            self._row(ws, n, cells, data_formats)
        total = table.totals_row(totals)
        if total:
            self._row(ws, table.rows + 1, total[0], [self.formats[f] for f in total[1]])
        for col, (width, fmt) in enumerate(zip(table.column_widths(), data_formats)):
            ws.set_column(col, col, width, fmt)
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, table.rows, len(columns) - 1)
        return ws

    @staticmethod
    def _row(ws: Any, n: int, cells: Sequence[Cell], formats: Sequence[Any]) -> None:
        """Write typed cells: a None cell only when formatted (a blank keeping its column's format)."""
        for col, (cell, fmt) in enumerate(zip(cells, formats)):
            if cell is None:
                if fmt is not None:
                    ws.write_blank(n, col, None, fmt)
            elif isinstance(cell, str):
                ws.write_string(n, col, cell, fmt)
            else:
                ws.write_number(n, col, cell, fmt)


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
    table = _Columns(title, columns, text_columns, amount_columns, None)
    style = {name: k for k, name in enumerate(FORMATS, start=1)}
    sheet = SheetWriter(len(table.columns), list(FORMATS.values()))
    sheet.row(table.columns, [style["header"]] * len(table.columns))
    data_styles = [style[f] if f else 0 for f in table.formats]
    for cells in table.typed_rows(rows):
        sheet.row(cells, data_styles)
    total = table.totals_row(None)
    if total:
        sheet.row(total[0], [style[f] for f in total[1]])
    return sheet.xlsx(
        sheet_name(title),
        table.column_widths(),
        data_styles,
        created=dt.datetime.combine(day or FIXED_DATE, dt.time(), tzinfo=dt.UTC),
        author="outage-relief",
        title=title,
        filter_rows=table.rows + 1,
    )


def xlsx_copy(csv_name: str, columns: Sequence[str], rows: Iterable[Sequence[Any] | Mapping[str, Any]],
              day: dt.date | None = None) -> bytes:  # fmt: skip
    """The XLSX copy of one of the outbox's CSVs (XLSX_COPIES says how its columns are typed), one sheet
    named after the CSV and the day."""
    text_columns, amount_columns = XLSX_COPIES[csv_name]
    title = csv_name.removesuffix(".csv") + (f" {day.isoformat()}" if day else "")
    return sheet_xlsx(title, columns, rows, text_columns, amount_columns, day=day)
