"""What every check of `relief verify` shares: the report problems are added to, a payment as `payments.csv`
gives it, the contract's names, and the small readers (CSV, XLSX, row counts) more than one check uses.

Every other module of the package imports from here; this module imports none of them.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import gzip
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from etl.core import contract
from etl.core.config import load_program
from etl.io.outbox import FORMULA_TRIGGERS
from etl.payments import iso20022

# The contract's names, from its one source (etl/core/contract.py).
PAYMENTS_CSV = contract.PAYMENTS_CSV
PAYMENT_COLUMNS = contract.PAYMENT_COLUMNS
MAX_PAYMENT_ID = contract.PAYMENT_ID_MAX_LENGTH

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Fields whose values a message may show; the others (accounts, names, business numbers) are personal data.
_SHOWN_FIELDS = {"payment_id", "bank_code", "amount_krw", "basis", "run_date"}


@functools.cache
def _bases() -> frozenset[str]:
    """The basis codes a payment may carry: one per tier of the program config ($RELIEF_PROGRAM), plus the rest."""
    return frozenset(contract.basis_codes(load_program()))


@dataclass
class VerifyReport:
    folder: Path
    problems: list[str] = field(default_factory=list)
    payments: int = 0
    control_sum_krw: int = 0
    files: list[str] = field(default_factory=list)
    xml_note: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _Payment:
    amount: int | None
    bank_code: str
    account_no: str
    line: int = 0
    row: dict[str, str] = field(default_factory=dict)  # the CSV's cells by column, as written


def _uninert(cell: str) -> str:
    """A CSV cell's value before `outbox.inert` quoted it (the XLSX holds values as given)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_TRIGGERS) else cell


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _approved_at(manifest: dict) -> dt.datetime | None:
    """The manifest's approved_at as an aware datetime; None when missing, not ISO 8601 or without an offset."""
    value = manifest.get("approved_at")
    try:
        at = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return at if at is not None and at.utcoffset() is not None else None


def _csv_rows(data: bytes) -> list[list[str]]:
    """All records, header included; raises UnicodeDecodeError / csv.Error on a broken file."""
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def _row_count(name: str, data: bytes) -> int | None:
    """Data rows of a file as the manifest counts them; None for kinds without a row count (JSON)."""
    if name.endswith(".csv.gz"):
        data = gzip.decompress(data)
        name = name[:-3]
    if name.endswith(".csv"):
        return max(len(_csv_rows(data)) - 1, 0)
    if name.endswith(".xml"):
        return len(iso20022.parse_pain001(data).transactions)
    if name.endswith(".xlsx"):
        return max(len(_xlsx_rows(data)[0]) - 1, 0)
    return None


def _xlsx_rows(data: bytes) -> tuple[list[list[Any]], int]:
    """The first sheet's rows as openpyxl cells, and the number of sheets; ValueError if not a workbook."""
    import zipfile

    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise ValueError(f"is not a readable XLSX workbook ({type(exc).__name__})") from None
    try:
        sheets = len(wb.worksheets)
        rows = [list(r) for r in wb.worksheets[0].iter_rows()] if sheets else []
    finally:
        wb.close()
    return rows, sheets
