"""What `generate_claims` returns: the figures its files must give, and the noise it put in them.

`expected` holds the exact figures a correct parse and dedup of the files must give (PROGRAM.md's
table at scale 1). The return value is a plain dict at run time, typed by `ClaimsSummary`.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import NotRequired, TypedDict

from etl.synth.claims.context import Context
from etl.synth.claims.writer import WrittenDay


class Expected(TypedDict):
    reports_received: int
    reports_kakao: int
    reports_affiliate: int
    individual: int
    small_business: int
    enterprise: int
    paid_service: int
    free_monetary: int
    non_monetary: int
    rows: int
    duplicates: int
    malformed: int


class BandCrossings(TypedDict):
    up_300k: int
    up_500k: int
    down: int


class SmallBusinessLosses(TypedDict):
    """The small businesses' losses as the contract sums them; only the count when there are none."""

    businesses_with_loss: int
    median_krw: NotRequired[int]
    at_most_300000: NotRequired[int]
    over_500000: NotRequired[int]
    share_over_500000: NotRequired[float]


class DayStats(TypedDict):
    file: str
    bytes: int
    rows: int
    reports: int
    duplicates: int
    malformed: int


class ClaimsSummary(TypedDict):
    inbox: str
    files: list[str]
    rows_written: int
    expected: Expected
    table: dict[str, int]  # "kakao.individual.paid_service" -> reports
    malformed_by_reason: dict[str, int]
    resubmissions: int
    band_crossing_resubmissions: BandCrossings
    multi_service_individuals: int
    bank_added_redeliveries: int
    small_business_losses: SmallBusinessLosses
    per_day: list[DayStats]
    scale: float
    seed: int


def small_business_losses(sb_losses: list[int]) -> SmallBusinessLosses:
    """The small businesses' losses as the contract sums them (PROGRAM.md: the median sets the bands)."""
    losses = sorted(sb_losses)
    if not losses:
        return {"businesses_with_loss": 0}
    n = len(losses)
    return {
        "businesses_with_loss": n,
        "median_krw": statistics.median_low(losses),
        "at_most_300000": sum(1 for x in losses if x <= 300_000),
        "over_500000": sum(1 for x in losses if x > 500_000),
        "share_over_500000": round(sum(1 for x in losses if x > 500_000) / n, 4),
    }


def _expected(ctx: Context, per_day: list[DayStats]) -> Expected:
    table = ctx.table
    kakao = {c: n for c, n in table.items() if c.kakao}

    def by_type(t: str) -> int:
        return sum(n for c, n in kakao.items() if c.ctype == t)

    def by_damage(g: str) -> int:
        return sum(n for c, n in kakao.items() if c.damage == g)

    return {
        "reports_received": sum(table.values()),
        "reports_kakao": sum(kakao.values()),
        "reports_affiliate": sum(n for c, n in table.items() if not c.kakao),
        "individual": by_type("individual"),
        "small_business": by_type("small_business"),
        "enterprise": by_type("enterprise"),
        "paid_service": by_damage("paid_service"),
        "free_monetary": by_damage("free_monetary"),
        "non_monetary": by_damage("non_monetary"),
        "rows": sum(p["rows"] for p in per_day),
        "duplicates": sum(p["duplicates"] for p in per_day),
        "malformed": sum(p["malformed"] for p in per_day),
    }


def summarise(
    ctx: Context,
    sb_losses: list[int],
    written: list[WrittenDay],
    kinds: list[str],
    inbox: Path,
    scale: float,
    seed: int,
) -> ClaimsSummary:
    """The run's summary, keys in the order the CLI has always printed them."""
    per_day: list[DayStats] = [
        {
            "file": w.file,
            "bytes": w.size,
            "rows": w.counts.rows,
            "reports": w.counts.reports,
            "duplicates": w.counts.duplicates,
            "malformed": w.counts.malformed,
        }
        for w in written
    ]
    reasons: dict[str, int] = {}
    for k in kinds:
        reasons[k.split("/")[0]] = reasons.get(k.split("/")[0], 0) + 1
    counters = ctx.counters
    crossings = counters.crossings
    expected = _expected(ctx, per_day)
    return {
        "inbox": str(inbox),
        "files": [p["file"] for p in per_day],
        "rows_written": expected["rows"],
        "expected": expected,
        "table": {f"{'kakao' if c.kakao else 'affiliate'}.{c.ctype}.{c.damage}": n for c, n in ctx.table.items()},
        "malformed_by_reason": dict(sorted(reasons.items())),
        "resubmissions": counters.resubmissions,
        "band_crossing_resubmissions": {
            "up_300k": crossings["up_300k"],
            "up_500k": crossings["up_500k"],
            "down": crossings["down"],
        },
        "multi_service_individuals": counters.multi_service_individuals,
        "bank_added_redeliveries": counters.bank_added_redeliveries,
        "small_business_losses": small_business_losses(sb_losses),
        "per_day": per_day,
        "scale": scale,
        "seed": seed,
    }
