"""Fraud holds: businesses the council must look at before any cash goes out.

One bank account given by more than `max_businesses_per_account` businesses holds them all; the same
account holder and phone under different business numbers is held as a suspected duplicate.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from etl.core.config import Program
from etl.core.pii import mask_account
from etl.io.warehouse import Warehouse

Hold = tuple[str, str]  # (reason, detail): the detail masks account numbers


def fraud_holds(conn: Connection, program: Program, run_date: str) -> dict[str, Hold]:
    """The businesses to hold for review as of a day, by claimant key (the touched keys' neighbourhood)."""
    holds: dict[str, Hold] = {}
    limit = program.max_businesses_per_account
    for r in Warehouse.rows(conn, "shared_accounts", run_date=run_date):
        if r["businesses"] > limit:
            holds[r["claimant_key"]] = (
                "shared_account",
                f"bank account {r['bank_code']}-{mask_account(r['account_no'])} given by {r['businesses']} businesses"
                f" (more than {limit})",
            )
    contacts: dict[tuple[str, str], list[str]] = {}
    for r in Warehouse.rows(conn, "shared_contacts", run_date=run_date):
        contacts.setdefault((r["account_holder"], r["phone"]), []).append(r["claimant_key"])
    for keys in contacts.values():
        if len(keys) > 1:
            for key in keys:
                others = ", ".join(k for k in sorted(keys) if k != key)
                holds.setdefault(
                    key,
                    (
                        "suspected_duplicate",
                        f"same account holder and phone as {len(keys) - 1} other business number(s): {others}",
                    ),
                )
    return holds
