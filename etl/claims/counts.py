"""The day's and the cumulative counts of `summary.json`: reports, not claimants (CONTRACT.md section 3).

rows_received = accepted + duplicates + excluded + quarantined holds for every run, or the run stops.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, TypedDict

from etl.core.contract import CLAIMANT_TYPES, DAMAGE
from etl.core.errors import ReliefError


class Counts(TypedDict):
    rows_received: int
    accepted: int
    duplicates: int
    excluded: int
    quarantined: int
    reports_received: int
    reports_kakao: int
    reports_affiliate: int
    by_claimant_type: dict[str, int]
    by_damage: dict[str, int]
    quarantined_by_reason: dict[str, int]
    payments: int
    paid_krw: int


def empty_counts() -> Counts:
    return {
        "rows_received": 0,
        "accepted": 0,
        "duplicates": 0,
        "excluded": 0,
        "quarantined": 0,
        "reports_received": 0,
        "reports_kakao": 0,
        "reports_affiliate": 0,
        "by_claimant_type": dict.fromkeys(CLAIMANT_TYPES, 0),
        "by_damage": dict.fromkeys(DAMAGE, 0),
        "quarantined_by_reason": {},
        "payments": 0,
        "paid_krw": 0,
    }


def add_counts(total: Mapping[str, Any], day: Mapping[str, Any]) -> Counts:
    """Cumulative counts: the earlier total plus a day's counts, field by field."""
    out: dict[str, Any] = copy.deepcopy(dict(total))
    for key, value in day.items():
        if isinstance(value, dict):
            sub = out.setdefault(key, {})
            for name, n in value.items():
                sub[name] = sub.get(name, 0) + n
        else:
            out[key] = out.get(key, 0) + value
    return out  # type: ignore[return-value]  # the same keys as the inputs


def damage_category(row: Mapping[str, Any]) -> str:
    """CONTRACT.md: paid_service, else free_monetary when a monetary loss is claimed, else non_monetary."""
    if row["paid_service"]:
        return "paid_service"
    if row["monetary_loss"]:
        return "free_monetary"
    return "non_monetary"


def count_report(counts: Counts, row: Mapping[str, Any], sign: int) -> None:
    """Add (or take away) one report's place in the PROGRAM.md table."""
    if row["kakao_corp"]:
        counts["reports_kakao"] += sign
        counts["by_claimant_type"][row["claimant_type"]] += sign
        counts["by_damage"][damage_category(row)] += sign
    else:
        counts["reports_affiliate"] += sign


def check_reconciles(counts: Counts, where: str) -> None:
    """received = accepted + duplicates + excluded + quarantined, or the run stops."""
    parts = counts["accepted"] + counts["duplicates"] + counts["excluded"] + counts["quarantined"]
    if counts["rows_received"] != parts:
        raise ReliefError(
            f"{where}: counts do not reconcile: received {counts['rows_received']} != accepted {counts['accepted']}"
            f" + duplicates {counts['duplicates']} + excluded {counts['excluded']}"
            f" + quarantined {counts['quarantined']}"
        )
