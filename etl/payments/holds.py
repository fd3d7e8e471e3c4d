"""Fraud holds: businesses the council must look at before any cash goes out.

One bank account given by more than `max_businesses_per_account` businesses holds them all; the same
account holder and phone under different business numbers is held as a suspected duplicate. A business
caught by both is held for both (the council sees every reason; holds.csv shows it once, reasons joined).
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from etl.core.config import Program
from etl.core.pii import mask_account
from etl.io.warehouse import Warehouse

Hold = tuple[str, str]  # (reason, detail): the detail masks account numbers


def fraud_holds(conn: Connection, program: Program, run_date: str) -> dict[str, list[Hold]]:
    """The businesses to hold for review as of a day, by claimant key, each with every reason it is held for
    (the touched keys' neighbourhood)."""
    holds: dict[str, list[Hold]] = {}
    limit = program.max_businesses_per_account
    for r in Warehouse.rows(conn, "shared_accounts", run_date=run_date, max_businesses_per_account=limit):
        detail = (
            f"bank account {r['bank_code']}-{mask_account(r['account_no'])} given by {r['businesses']} businesses"
            f" (more than {limit})"
        )
        _hold(holds, r["claimant_key"], "shared_account", detail)
    contacts: dict[tuple[str, str], list[str]] = {}
    for r in Warehouse.rows(conn, "shared_contacts", run_date=run_date):
        contacts.setdefault((r["account_holder"], r["phone"]), []).append(r["claimant_key"])
    for keys in contacts.values():  # two or more each (shared_contacts.sql)
        for key in keys:
            others = ", ".join(k for k in sorted(keys) if k != key)
            detail = f"same account holder and phone as {len(keys) - 1} other business number(s): {others}"
            _hold(holds, key, "suspected_duplicate", detail)
    return holds


def _hold(holds: dict[str, list[Hold]], key: str, reason: str, detail: str) -> None:
    """Hold `key` for `reason`, once: a second account or contact for the same reason keeps the first detail."""
    reasons = holds.setdefault(key, [])
    if all(held != reason for held, _ in reasons):
        reasons.append((reason, detail))
