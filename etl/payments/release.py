"""`relief release KEY AMOUNT`: a person's second approval of one payment above the program's cap.

A council approval can exceed `cash.max_payment_krw`; such a payment is computed but not paid, and the
day goes on. A person (named, with a reason) releases exactly that business and amount; the release is
recorded in the audit trail, and the next computed day pays it (the day's batch is approved as usual).
"""

from __future__ import annotations

from etl.core.clock import audit_now
from etl.core.errors import ReliefError
from etl.io.lock import writer
from etl.io.warehouse import Warehouse
from etl.ledger import audit


def release_over_cap(wh: Warehouse, key: str, amount_krw: int, released_by: str, reason: str) -> dict:
    """Record the second approval of one above-cap payment; refuse one that no day has held."""
    key = key.replace("-", "").strip()
    if not released_by.strip() or not reason.strip():
        raise ReliefError("a release needs the name of the person releasing it and a reason")
    with writer(wh, f"release {key}"), wh.begin() as conn:
        rows = Warehouse.rows(conn, "latest_over_cap", claimant_key=key)
        if not rows or int(rows[0]["amount_krw"]) != amount_krw:
            found = f"{int(rows[0]['amount_krw']):,} KRW on {rows[0]['run_date']}" if rows else "no payment"
            raise ReliefError(
                f"{key}: no payment of {amount_krw:,} KRW is held above the cap (found {found}); give the business"
                " and the exact amount of reviews/DAY/over_cap.csv"
            )
        Warehouse.run(
            conn,
            "insert_cap_release",
            claimant_key=key,
            amount_krw=amount_krw,
            released_by=released_by,
            reason=reason,
            released_at=audit_now(),
        )
        event: audit.Event = {
            "event": "over_cap_released",
            "claimant_key": key,
            "amount_krw": amount_krw,
            "detail": reason,
        }
        audit.append(conn, rows[0]["run_date"], "relief release", released_by, [event])
    return {"claimant_key": key, "amount_krw": amount_krw, "released_by": released_by, "held_on": rows[0]["run_date"]}
