"""The finance report's groups, stored per published day so a day's publish costs what the day changed.

`finance_payment_groups.sql` (payments by the paid business's latest loss, basis and bank result) and
`finance_losses.sql` (businesses by latest loss) group the whole history: at 100 times the 1015 event that is
seconds a day, growing every day. Every window in them is per business or per payment, so they can be asked for
some businesses only; and a run writes state, payments or bank results only for the businesses it touched
(touched_keys). So as of a day D the groups are those of the previous published day P, minus the touched
businesses' groups as of P, plus their groups as of D. Each published day's groups are stored; a day whose
previous day has none stored (the first day, or a warehouse published before schema 3) is grouped in full.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from etl.core.errors import ReliefError
from etl.io.warehouse import Warehouse

GROUP_KEY = ("loss_krw", "basis", "status")
GROUP_SUMS = ("payments", "krw", "businesses", "basis_businesses")
LOSS_KEY = ("loss_krw",)
LOSS_SUMS = ("businesses",)
EVERY_BUSINESS = ""  # changed_after '': every business a run ever touched (sorts before every date)


def payment_groups(conn: Any, as_of: str) -> list[dict]:
    """The finance payment groups as of a published day: stored, or grouped in full."""
    if is_stored(conn, as_of):
        return Warehouse.rows(conn, "stored_finance_groups", run_date=as_of)
    return Warehouse.rows(conn, "finance_payment_groups", **_window(as_of, EVERY_BUSINESS, as_of))


def loss_counts(conn: Any, as_of: str) -> list[dict]:
    """The latest-loss counts as of a published day: stored, or counted in full."""
    if is_stored(conn, as_of):
        return Warehouse.rows(conn, "stored_finance_losses", run_date=as_of)
    return Warehouse.rows(conn, "finance_losses", **_window(as_of, EVERY_BUSINESS, as_of))


def is_stored(conn: Any, day: str) -> bool:
    return bool(Warehouse.rows(conn, "finance_snapshot_day", run_date=day))


@dataclass(frozen=True)
class Groups:
    """A day's finance groups, computed before its folders are written and saved as it is marked published."""

    run_date: str
    payments: list[dict[str, Any]]
    losses: list[dict[str, Any]]


def compute(conn: Any, day: dt.date) -> Groups | None:
    """`day`'s groups (None when they are stored: a rerun of a published day keeps them).

    Raises ReliefError when the previous day's stored groups disagree with the ledger: publish reads this before
    writing anything, so the day publishes nothing.
    """
    run_date = day.isoformat()
    if is_stored(conn, run_date):
        return None
    before = Warehouse.rows(conn, "latest_day_run", as_of=(day - dt.timedelta(days=1)).isoformat())
    previous = str(before[0]["run_date"]) if before else None
    if previous is None or not is_stored(conn, previous):
        return Groups(
            run_date,
            Warehouse.rows(conn, "finance_payment_groups", **_window(run_date, EVERY_BUSINESS, run_date)),
            Warehouse.rows(conn, "finance_losses", **_window(run_date, EVERY_BUSINESS, run_date)),
        )
    return Groups(
        run_date,
        _moved(conn, "finance_payment_groups", "stored_finance_groups", previous, run_date, GROUP_KEY, GROUP_SUMS),
        _moved(conn, "finance_losses", "stored_finance_losses", previous, run_date, LOSS_KEY, LOSS_SUMS),
    )


def save(conn: Any, groups: Groups | None) -> None:
    """Store a day's groups (replacing any): in the transaction that marks the day published.

    A recompute of the day clears them (etl/payments/compute.py); a rerun of a published day keeps them.
    """
    if groups is None:
        return
    run_date = groups.run_date
    Warehouse.run(conn, "delete_finance_snapshot", run_date=run_date)
    Warehouse.executemany(conn, "insert_finance_group", (_ints(g, GROUP_SUMS, run_date) for g in groups.payments))
    Warehouse.executemany(conn, "insert_finance_loss_count", (_ints(n, LOSS_SUMS, run_date) for n in groups.losses))
    Warehouse.executemany(conn, "insert_finance_snapshot_day", [{"run_date": run_date}])


def _window(as_of: str, changed_after: str, changed_until: str) -> dict[str, str]:
    return {"as_of": as_of, "changed_after": changed_after, "changed_until": changed_until}


def _ints(group: Mapping[str, Any], sums: tuple[str, ...], run_date: str) -> dict[str, Any]:
    """A group to store: its sums as int (PostgreSQL's sum of bigint is numeric), its day."""
    return {**group, **{s: int(group[s]) for s in sums}, "run_date": run_date}


def _moved(
    conn: Any, query: str, stored: str, previous: str, run_date: str, key: tuple[str, ...], sums: tuple[str, ...]
) -> list[dict[str, Any]]:
    """The previous day's stored groups, minus the touched businesses' groups as they were then, plus theirs now:
    group by group; groups that come to nothing are dropped (a full grouping has none)."""
    totals: dict[tuple, list[int]] = {}
    for rows, sign in (
        (Warehouse.rows(conn, stored, run_date=previous), 1),
        (Warehouse.rows(conn, query, **_window(previous, previous, run_date)), -1),
        (Warehouse.rows(conn, query, **_window(run_date, previous, run_date)), 1),
    ):
        for row in rows:
            acc = totals.setdefault(tuple(row[k] for k in key), [0] * len(sums))
            for i, s in enumerate(sums):
                acc[i] += sign * int(row[s])
    moved = []
    for k, values in totals.items():
        if any(v < 0 for v in values):  # the stored groups disagree with the ledger: stop, publish nothing
            raise ReliefError(
                f"the stored finance groups of the previous published day go below zero at {dict(zip(key, k))}"
                f" ({dict(zip(sums, values))}): the day is not published. Delete that day's rows from"
                " finance_snapshot_days to have it grouped in full, and report this."
            )
        if any(values):
            moved.append({**dict(zip(key, k)), **dict(zip(sums, values))})
    return moved
