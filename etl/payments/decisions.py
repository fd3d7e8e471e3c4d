"""The council's review decisions (`decisions_YYYYMMDD.csv`): parse, then check against the businesses.

A decision is applied only if it is well-formed, names a known business, and that business is
under review (its loss is over the threshold). Everything else goes to `decisions_errors.csv`
with a reason, and changes nothing. Parsing never raises for a row: every field is bounded (lengths,
no control characters, an approved amount up to MAX_AMOUNT_KRW, decided_at from the outage's day to
2100), and a row out of bounds is an error with its reason code.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from etl.claims.parse import KST, MAX_AMOUNT_KRW, RowError, check_text_fields, parse_timestamp
from etl.io.csvfile import read_records

DECISION_COLUMNS = ["claimant_key", "decision", "approved_amount_krw", "decided_by", "decided_at"]
DECISION_LIMITS = {  # the most characters a field may hold, spaces trimmed
    "claimant_key": 100, "decision": 16, "approved_amount_krw": 32, "decided_by": 100, "decided_at": 64,
}  # fmt: skip
# decided_at must fall in [the outage's day, 2100) (KST): the council cannot decide before the outage.
DECIDED_AT_RANGE = (dt.datetime(2022, 10, 15, tzinfo=KST), dt.datetime(2100, 1, 1, tzinfo=KST))
_WHOLE = re.compile(r"[0-9]+")
DECISION_REASONS = {
    "malformed_row": "the row cannot be read (quoting, encoding or field count)",
    "control_character": "a field holds a control character (C0, DEL, C1) or U+FFFE/U+FFFF",
    "field_too_long": "a field is longer than its bound (claimant_key and decided_by 100 characters)",
    "missing_claimant_key": "claimant_key is empty",
    "bad_decision": "decision is not approved or rejected",
    "bad_amount": "approved_amount_krw must be a positive whole number of won for an approval",
    "amount_too_large": "approved_amount_krw is over 1,000,000,000,000 won (MAX_AMOUNT_KRW)",
    "bad_decided_at": "decided_at is not an ISO 8601 timestamp with an offset",
    "decided_at_out_of_range": "decided_at is before the outage's day (2022-10-15 KST) or in 2100 or later",
    "unknown_claimant": "no claim on file for this claimant_key",
    "not_under_review": "the business's loss is not over the review threshold",
}


@dataclass
class ParsedDecisions:
    decisions: list[dict]
    errors: list[dict]  # {line_no, claimant_key, reason, detail, raw}


def parse_decisions_file(path: Path) -> ParsedDecisions:
    """Read a decisions file; rows that are malformed in themselves become errors at once (never an exception)."""
    parsed = ParsedDecisions([], [])
    for rec in read_records(path, DECISION_COLUMNS):
        if rec.error or rec.fields is None:
            parsed.errors.append(_error(rec.line_no, "", "malformed_row", rec.raw))
            continue
        values = dict(zip(DECISION_COLUMNS, rec.fields))
        try:
            check_text_fields(values, DECISION_LIMITS, frozenset())
        except RowError as err:  # the key itself may be what is wrong: it is not repeated
            parsed.errors.append(_error(rec.line_no, "", err.reason, rec.raw, err.detail))
            continue
        row = {k: v.strip() for k, v in values.items()}
        key = row["claimant_key"].replace("-", "")
        if not key:
            parsed.errors.append(_error(rec.line_no, key, "missing_claimant_key", rec.raw))
            continue
        decision = row["decision"].lower()
        if decision not in ("approved", "rejected"):
            parsed.errors.append(_error(rec.line_no, key, "bad_decision", rec.raw))
            continue
        amount = None
        if decision == "approved":
            if not _WHOLE.fullmatch(row["approved_amount_krw"]) or int(row["approved_amount_krw"]) <= 0:
                parsed.errors.append(_error(rec.line_no, key, "bad_amount", rec.raw))
                continue
            amount = int(row["approved_amount_krw"])
            if amount > MAX_AMOUNT_KRW:
                parsed.errors.append(_error(rec.line_no, key, "amount_too_large", rec.raw))
                continue
        try:
            decided_at = parse_timestamp(
                row["decided_at"], column="decided_at", earliest=DECIDED_AT_RANGE[0], end=DECIDED_AT_RANGE[1]
            )
        except RowError as err:
            parsed.errors.append(_error(rec.line_no, key, err.reason, rec.raw, err.detail))
            continue
        parsed.decisions.append(
            {
                "line_no": rec.line_no,
                "claimant_key": key,
                "decision": decision,
                "approved_amount_krw": amount,
                "decided_by": row["decided_by"],
                "decided_at": decided_at,
                "raw": rec.raw,
            }
        )
    return parsed


def _error(line_no: int, key: str, reason: str, raw: str, detail: str | None = None) -> dict:
    return {
        "line_no": line_no,
        "claimant_key": key,
        "reason": reason,
        "detail": detail or DECISION_REASONS[reason],
        "raw": raw,
    }


def reject(decision: dict, reason: str) -> dict:
    return _error(decision["line_no"], decision["claimant_key"], reason, decision["raw"])
