"""The audit trail: every ledger event appended with its run, actor and time, and never changed.

Written in the same transaction as the change it records (under the writer lock, so event numbers
are assigned by one writer at a time). `relief explain KEY` reads it back.
"""

from __future__ import annotations

from typing import TypedDict

from sqlalchemy.engine import Connection

from etl.core.clock import audit_now
from etl.io.warehouse import Warehouse

EVENTS = {
    "payment_computed": "a payment was computed for the day's batch (released only once approved)",
    "batch_approved": "a person (or the program's switch) approved exactly this batch (its SHA-256)",
    "batch_rejected": "the batch was rejected: nothing of it is paid; the day's results were discarded",
    "payment_published": "the payment was published to finance in the day's payments.csv",
    "payment_settled": "the bank reported the payment settled",
    "payment_returned": "the bank returned the payment: the amount is owed again, those bank details not reused",
    "decision_applied": "a council decision was recorded for the business",
    "decision_refused": "a council decision could not be applied (see decisions_errors.csv)",
    "hold_placed": "the fraud checks put the business on hold for the council",
    "hold_released": "the business is no longer held by the fraud checks",
    "payment_over_cap": "a payment above the program's cap was computed and not paid: it awaits a second approval",
    "over_cap_released": "a person gave the second approval of one payment above the cap (relief release)",
}


class Event(TypedDict, total=False):
    event: str  # a key of EVENTS
    claimant_key: str | None
    payment_id: str | None
    amount_krw: int | None
    detail: str | None


def append(conn: Connection, run_date: str, run_id: str, actor: str, events: list[Event]) -> int:
    """Append events, numbered after the trail's last one; returns how many were appended."""
    unknown = {e["event"] for e in events} - EVENTS.keys()
    if unknown:
        raise ValueError(f"unknown audit event(s): {sorted(unknown)}")
    first = int(Warehouse.scalar(conn, "last_event_no") or 0) + 1
    at = audit_now()
    rows = (
        {
            "event_no": first + i,
            "run_date": run_date,
            "run_id": run_id,
            "event": e["event"],
            "claimant_key": e.get("claimant_key"),
            "payment_id": e.get("payment_id"),
            "amount_krw": e.get("amount_krw"),
            "actor": actor,
            "at": at,
            "detail": e.get("detail"),
        }
        for i, e in enumerate(events)
    )
    return Warehouse.executemany(conn, "insert_ledger_event", rows, copy="copy_ledger_events")
