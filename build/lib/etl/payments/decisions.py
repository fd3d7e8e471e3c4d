"""The council's review decisions (`decisions_YYYYMMDD.csv`): parse, then check against the businesses.

A decision is applied only if it is well-formed, names a known business, and that business is
under review (its loss is over the threshold). Everything else goes to `decisions_errors.csv`
with a reason, and changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from etl.claims.parse import RowError, parse_timestamp
from etl.io.csvfile import read_records

DECISION_COLUMNS = ["claimant_key", "decision", "approved_amount_krw", "decided_by", "decided_at"]
DECISION_REASONS = {
    "malformed_row": "the row cannot be read (quoting, encoding or field count)",
    "missing_claimant_key": "claimant_key is empty",
    "bad_decision": "decision is not approved or rejected",
    "bad_amount": "approved_amount_krw must be a positive whole number of won for an approval",
    "bad_decided_at": "decided_at is not an ISO 8601 timestamp with an offset",
    "unknown_claimant": "no claim on file for this claimant_key",
    "not_under_review": "the business's loss is not over the review threshold",
}


@dataclass
class ParsedDecisions:
    decisions: list[dict]
    errors: list[dict]  # {line_no, claimant_key, reason, detail, raw}


def parse_decisions_file(path: Path) -> ParsedDecisions:
    """Read a decisions file; rows that are malformed in themselves become errors at once."""
    parsed = ParsedDecisions([], [])
    for rec in read_records(path, DECISION_COLUMNS):
        if rec.error:
            parsed.errors.append(_error(rec.line_no, "", "malformed_row", rec.raw))
            continue
        row = dict(zip(DECISION_COLUMNS, (f.strip() for f in rec.fields)))
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
            if not re.fullmatch(r"[0-9]+", row["approved_amount_krw"]) or int(row["approved_amount_krw"]) <= 0:
                parsed.errors.append(_error(rec.line_no, key, "bad_amount", rec.raw))
                continue
            amount = int(row["approved_amount_krw"])
        try:
            decided_at = parse_timestamp(row["decided_at"])
        except RowError:
            parsed.errors.append(_error(rec.line_no, key, "bad_decided_at", rec.raw))
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


def _error(line_no: int, key: str, reason: str, raw: str) -> dict:
    return {"line_no": line_no, "claimant_key": key, "reason": reason, "detail": DECISION_REASONS[reason], "raw": raw}


def reject(decision: dict, reason: str) -> dict:
    return _error(decision["line_no"], decision["claimant_key"], reason, decision["raw"])
