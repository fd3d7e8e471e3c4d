"""`relief report`: the cumulative figures of the latest published day, beside PROGRAM.md's table, and the money.

The money is the finance report's (etl/reports/finance.py, `money_totals`): issued, settled, returned and
outstanding payments, and net (issued less returned), for the day and cumulative. Issued money is never
called "paid": a payment the bank returns was issued but not paid.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from etl.core.config import Program
from etl.core.errors import ReliefError
from etl.io.warehouse import Warehouse
from etl.reports.finance import MONEY_PARTS, MoneyTotals, money_totals

# (label, where the figure is in the cumulative counts, the reference key, the share's denominator)
ROWS = [
    ("damage reports received", ("reports_received",), "reports_received", None),
    ("  of which for Kakao", ("reports_kakao",), "reports_kakao", "reports_received"),
    ("  for affiliates (excluded)", ("reports_affiliate",), "reports_affiliate", "reports_received"),
    ("Kakao: general users", ("by_claimant_type", "individual"), "individual", "reports_kakao"),
    ("Kakao: small businesses", ("by_claimant_type", "small_business"), "small_business", "reports_kakao"),
    ("Kakao: mid-size and large", ("by_claimant_type", "enterprise"), "enterprise", "reports_kakao"),
    ("Kakao: paid service", ("by_damage", "paid_service"), "paid_service", "reports_kakao"),
    ("Kakao: free, monetary loss", ("by_damage", "free_monetary"), "free_monetary", "reports_kakao"),
    ("Kakao: no monetary loss", ("by_damage", "non_monetary"), "non_monetary", "reports_kakao"),
]


def _get(counts: dict, path: tuple[str, ...]) -> int:
    value: Any = counts
    for key in path:
        value = value.get(key, 0) if isinstance(value, dict) else 0
    return int(value)


def comparison(cumulative: dict, reference: dict[str, int]) -> list[dict]:
    """One row per PROGRAM.md figure: the reference, this run's value, its share, and whether they match."""
    rows = []
    for label, path, ref_key, denominator in ROWS:
        value = _get(cumulative, path)
        share = None
        if denominator:
            base = cumulative.get(denominator, 0)
            share = round(100 * value / base, 1) if base else None
        ref = reference.get(ref_key)
        rows.append({"figure": label, "program": ref, "run": value, "share_pct": share, "match": ref == value})
    return rows


def load_latest(wh: Warehouse, as_of: dt.date | None) -> dict:
    with wh.begin() as conn:
        rows = Warehouse.rows(conn, "latest_day_run", as_of=as_of.isoformat() if as_of else None)
    if not rows:
        raise ReliefError("no published day in the warehouse yet: run `relief run-day` first")
    row = rows[0]
    return {
        "run_date": row["run_date"],
        "run_id": row["run_id"],
        "day": json.loads(row["day_counts"]),
        "cumulative": json.loads(row["cumulative_counts"]),
    }


def load_money(wh: Warehouse, run_date: str) -> MoneyTotals:
    """The finance report's money totals as of a published day."""
    with wh.begin() as conn:
        return money_totals(conn, run_date)


def money_lines(money: MoneyTotals) -> list[str]:
    """The money table: issued, settled, returned, outstanding and net, count and KRW, day and cumulative."""
    lines = [f"{'small-business payments':<30} {'day':>8} {'day KRW':>15} {'cumulative':>11} {'cumulative KRW':>15}"]
    for part in MONEY_PARTS:
        day: Any = money["day"].get(part)  # a day has no outstanding of its own
        cum: Any = money["cumulative"].get(part)
        label = "net (issued less returned)" if part == "net" else part
        day_count, day_krw = (f"{day['count']:,}", f"{day['krw']:,}") if day else ("", "")
        lines.append(f"{label:<30} {day_count:>8} {day_krw:>15} {cum['count']:>11,} {cum['krw']:>15,}")
    if not money["balanced"]:
        lines.append("the reconciliation does NOT balance: issued != settled + returned + outstanding")
    return lines


def print_report(wh: Warehouse, program: Program, as_of: dt.date | None, as_json: bool = False) -> int:
    latest = load_latest(wh, as_of)
    table = comparison(latest["cumulative"], program.reference_claims)
    c = latest["cumulative"]
    money = load_money(wh, latest["run_date"])
    if as_json:
        print(json.dumps({**latest, "comparison": table, "money": money}, ensure_ascii=False, indent=2))
        return 0
    print(f"{program.code}: cumulative through {latest['run_date']} (run {latest['run_id']})")
    print(f"{'figure':<30} {'PROGRAM.md':>12} {'this run':>12} {'share':>7}  ")
    for r in table:
        share = f"{r['share_pct']:.1f}%" if r["share_pct"] is not None else ""
        program_value = f"{r['program']:,}" if r["program"] is not None else "-"
        mark = "ok" if r["match"] else ("" if r["program"] is None else "DIFFERS")
        print(f"{r['figure']:<30} {program_value:>12} {r['run']:>12,} {share:>7}  {mark}")
    print()
    print(
        f"rows received {c['rows_received']:,} = accepted {c['accepted']:,} + duplicates {c['duplicates']:,}"
        f" + excluded {c['excluded']:,} + quarantined {c['quarantined']:,}"
    )
    print()
    for line in money_lines(money):
        print(line)
    return 0
