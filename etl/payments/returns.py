"""The bank's results for issued payments (`returns_YYYYMMDD.csv`), read for the reconciliation
(`etl/ledger/reconciliation.py`).

A returned payment no longer counts as paid: the amount is owed again, and is paid once the business
gives bank details other than the ones the bank returned.

Parsing never raises for a row: a row out of bounds (lengths, control characters) is an error with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from etl.claims.parse import RowError, check_text_fields
from etl.io.csvfile import read_records

RETURN_COLUMNS = ["payment_id", "status", "reason"]
RETURN_LIMITS = {"payment_id": 35, "status": 16, "reason": 1000}  # payment_id: the ISO 20022 EndToEndId limit
RETURN_REASONS = {
    "malformed_row": "the row cannot be read (quoting, encoding or field count)",
    "control_character": "a field holds a control character (C0, DEL, C1) or U+FFFE/U+FFFF",
    "field_too_long": "a field is longer than its bound (payment_id 35 characters, reason 1,000)",
    "bad_status": "status is not settled or returned",
    "unknown_payment": "no payment with this payment_id was issued before this day",
}


@dataclass
class ParsedReturns:
    results: list[dict]
    errors: list[dict]


def parse_returns_file(path: Path) -> ParsedReturns:
    parsed = ParsedReturns([], [])
    for rec in read_records(path, RETURN_COLUMNS):
        if rec.error or rec.fields is None:
            parsed.errors.append({"line_no": rec.line_no, "payment_id": "", "reason": "malformed_row", "raw": rec.raw})
            continue
        try:
            check_text_fields(dict(zip(RETURN_COLUMNS, rec.fields)), RETURN_LIMITS, frozenset())
        except RowError as err:  # the payment_id itself may be what is wrong: it is not repeated
            parsed.errors.append({"line_no": rec.line_no, "payment_id": "", "reason": err.reason, "raw": rec.raw})
            continue
        payment_id, status, reason = (f.strip() for f in rec.fields)
        status = status.lower()
        if status not in ("settled", "returned"):
            parsed.errors.append(
                {"line_no": rec.line_no, "payment_id": payment_id, "reason": "bad_status", "raw": rec.raw}
            )
            continue
        parsed.results.append(
            {
                "line_no": rec.line_no,
                "payment_id": payment_id,
                "status": status,
                "reason": reason or None,
                "raw": rec.raw,
            }
        )
    return parsed
