"""Gathering the finance report from the ledger, as of the latest published day on or before a day."""

from __future__ import annotations

import bisect
import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from etl.core import contract
from etl.core.config import Program
from etl.core.errors import ReliefError
from etl.io.warehouse import Warehouse
from etl.ledger.reconciliation import reconcile
from etl.reports.finance import snapshot
from etl.reports.finance.model import (
    AGE_BUCKETS,
    NO_LOSS,
    REVIEW,
    AgeBucket,
    Band,
    DayPoint,
    FinanceReport,
    Flow,
    LossDistribution,
    Money,
    MoneyTotals,
    OverCapPayment,
)


def _money() -> Money:
    return {"count": 0, "krw": 0}


def _add(m: Money, krw: int, count: int = 1) -> None:
    m["count"] += count
    m["krw"] += krw


def _less(a: Money, b: Money) -> Money:
    return {"count": a["count"] - b["count"], "krw": a["krw"] - b["krw"]}


def published_day(conn: Any, day: dt.date) -> str:
    """The latest published day on or before `day` (what every figure is as of)."""
    latest = Warehouse.rows(conn, "latest_day_run", as_of=day.isoformat())
    if not latest:
        raise ReliefError(f"no day is published on or before {day}: run `relief run-day` first")
    return str(latest[0]["run_date"])


def money_totals(conn: Any, as_of: str, groups: list[dict] | None = None) -> MoneyTotals:
    """Issued, settled, returned, outstanding and net (count, KRW), for the day `as_of` and cumulative.

    The reconciliation's own arithmetic (etl/ledger/reconciliation.py) on the same payment groups, so these
    agree with reconciliation.json.
    """
    rows = groups if groups is not None else Warehouse.rows(conn, "payment_groups", as_of=as_of)
    rec = reconcile(rows, as_of)
    day, cum = rec["day"], rec["cumulative"]
    net = _less(cum["issued"], cum["returned"])
    total = int(Warehouse.scalar(conn, "payments_total_as_of", as_of=as_of) or 0)
    return {
        "as_of": as_of,
        "day": {
            "issued": day["issued"],
            "settled": day["settled"],
            "returned": day["returned"],
            "net": _less(day["issued"], day["returned"]),
        },
        "cumulative": {
            "issued": cum["issued"],
            "settled": cum["settled"],
            "returned": cum["returned"],
            "outstanding": cum["outstanding"],
            "net": net,
        },
        "balanced": bool(rec["balanced"]) and total == net["krw"],
    }


def _state(target: Flow | DayPoint, status: str | None) -> Money:
    """The bucket of a payment's latest bank result (none yet: outstanding)."""
    if status == "settled":
        return target["settled"]
    if status == "returned":
        return target["returned"]
    if status is None and "outstanding" in target:
        return target["outstanding"]  # type: ignore[typeddict-item]  # a Flow
    raise ReliefError(f"unexpected bank result status {status!r}")


def _tier_key(program: Program, loss_krw: int) -> str:
    if loss_krw <= 0:
        return NO_LOSS
    tier = program.tier_for(loss_krw)
    return tier.basis if tier else REVIEW


def _tier_labels(program: Program) -> dict[str, str]:
    labels, lower = {}, 0
    for tier in program.tiers:
        span = f"loss <= {tier.max_loss_krw:,}" if not lower else f"{lower:,} < loss <= {tier.max_loss_krw:,}"
        labels[tier.basis] = f"{span} (support {tier.support_krw:,})"
        lower = tier.max_loss_krw
    labels[REVIEW] = f"loss > {program.review_threshold_krw:,} (council review)"
    labels[NO_LOSS] = "no loss above zero"
    return labels


def _flows(
    groups: Iterable[Mapping],
    key_of: Callable[[Mapping], str],
    businesses: str,
    labels: Mapping[str, str],
    order: list[str],
) -> list[Flow]:
    """Payment groups (`payments`, `krw`, `status`, and the businesses counted in column `businesses`) added up
    by `key_of(group)`, in `order` then any other key alphabetically."""
    flows: dict[str, Flow] = {}
    for g in groups:
        key = key_of(g)
        f = flows.get(key)
        if f is None:
            f = flows[key] = {
                "key": key,
                "label": labels.get(key, key),
                "businesses": 0,
                "issued": _money(),
                "settled": _money(),
                "returned": _money(),
                "outstanding": _money(),
                "net": _money(),
            }
        krw, count = int(g["krw"]), int(g["payments"])
        _add(f["issued"], krw, count)
        _add(_state(f, g["status"]), krw, count)
        f["businesses"] += int(g[businesses])
    for f in flows.values():
        f["net"] = _less(f["issued"], f["returned"])
    rank = {k: i for i, k in enumerate(order)}
    return [flows[k] for k in sorted(flows, key=lambda k: (rank.get(k, len(rank)), k))]


def _ages(groups: list[dict], as_of: str) -> list[AgeBucket]:
    """Outstanding payments (no bank result yet) by days since issue."""
    day = dt.date.fromisoformat(as_of)
    out: list[AgeBucket] = [{"age": name, "count": 0, "krw": 0} for name, _, _ in AGE_BUCKETS]
    for g in groups:
        if g["status"]:
            continue
        age = (day - dt.date.fromisoformat(g["run_date"])).days
        for bucket, (_, low, high) in zip(out, AGE_BUCKETS):
            if age >= low and (high is None or age <= high):
                bucket["count"] += int(g["payments"])
                bucket["krw"] += int(g["krw"])
                break
    return out


def loss_edges(losses: Iterable[int]) -> list[int]:
    """Histogram edges, ten a decade (whole won), from the decade of the smallest loss past the largest."""
    positive = [v for v in losses if v > 0]
    if not positive:
        return []
    low, high = len(str(min(positive))) - 1, len(str(max(positive)))  # decades: 10**low <= v < 10**high
    edges: list[int] = []
    for j in range(10 * low, 10 * high + 1):
        edge = 10 ** (j // 10) if j % 10 == 0 else round(10 ** (j / 10))
        if not edges or edge > edges[-1]:
            edges.append(edge)
    return edges


def _median_low(counted: list[tuple[int, int]]) -> int | None:
    """statistics.median_low of the values `counted` as (value, how many), sorted by value."""
    total = sum(n for _, n in counted)
    seen, middle = 0, (total - 1) // 2  # the lower middle's index among the values, 0-based
    for value, n in counted:
        seen += n
        if seen > middle:
            return value
    return None


def _distribution(program: Program, losses: list[dict]) -> LossDistribution:
    """The latest claimed losses (finance_losses.sql: each distinct loss and its businesses) as a log-scale
    histogram, a median and the tier bands."""
    counted = sorted((int(r["loss_krw"]), int(r["businesses"])) for r in losses)
    positive = [(v, n) for v, n in counted if v > 0]
    edges = loss_edges(v for v, _ in positive)
    counts = [0] * max(len(edges) - 1, 0)
    for v, n in positive:
        counts[min(bisect.bisect_right(edges, v) - 1, len(counts) - 1)] += n
    labels = _tier_labels(program)
    bands: dict[str, Band] = {
        k: {"key": k, "label": labels[k], "businesses": 0, "claimed_loss_krw": 0}
        for k in [*(t.basis for t in program.tiers), REVIEW, NO_LOSS]
    }
    for v, n in counted:
        band = bands[_tier_key(program, v)]
        band["businesses"] += n
        band["claimed_loss_krw"] += v * n
    return {
        "businesses": sum(n for _, n in counted),
        "with_loss": sum(n for _, n in positive),
        "median_krw": _median_low(positive),
        "edges_krw": edges,
        "counts": counts,
        "bands": [b for b in bands.values() if b["key"] != NO_LOSS or b["businesses"]],
    }


def _daily(groups: list[dict], days: list[dict]) -> list[DayPoint]:
    """Each published day: reports received (its summary's counts) and the money that moved that day."""
    points: dict[str, DayPoint] = {}

    def point(day: str) -> DayPoint:
        if day not in points:
            points[day] = {
                "day": day,
                "reports_received": 0,
                "issued": _money(),
                "settled": _money(),
                "returned": _money(),
                "net": _money(),
                "cumulative_net": _money(),
            }
        return points[day]

    for d in days:
        counts = json.loads(d["day_counts"]) if d["day_counts"] else {}
        point(str(d["run_date"]))["reports_received"] = int(counts.get("reports_received", 0))
    for g in groups:
        krw, count = int(g["krw"]), int(g["payments"])
        _add(point(g["run_date"])["issued"], krw, count)
        if g["status"]:
            _add(_state(point(g["result_date"]), g["status"]), krw, count)
    running = _money()
    out = []
    for day in sorted(points):
        pt = points[day]
        pt["net"] = _less(pt["issued"], pt["returned"])
        running = {"count": running["count"] + pt["net"]["count"], "krw": running["krw"] + pt["net"]["krw"]}
        pt["cumulative_net"] = dict(running)  # type: ignore[typeddict-item]
        out.append(pt)
    return out


def finance_report(
    wh: Warehouse, program: Program, day: dt.date, read_as_of: Mapping[str, list[dict]] | None = None
) -> FinanceReport:
    """Every money figure of the program as of the latest published day on or before `day`, in one read.

    `read_as_of` holds the rows of some of its reads (payment_groups, review_queue, current_holds,
    awaiting_bank_details) as of `day` itself, read under the same writer's hold (publish, which
    has just read them for the day's folders); they are used only when `day` is the report's day.
    """
    threshold = program.review_threshold_krw
    with wh.begin() as conn:
        as_of = published_day(conn, day)
        known = read_as_of if read_as_of is not None and as_of == day.isoformat() else {}

        def rows(query: str, **params: Any) -> list[dict]:
            return list(known[query]) if query in known else Warehouse.rows(conn, query, **params)

        groups = rows("payment_groups", as_of=as_of)
        money = money_totals(conn, as_of, groups)
        paid = snapshot.payment_groups(conn, as_of)
        losses = snapshot.loss_counts(conn, as_of)
        queue = rows("review_queue", run_date=as_of, review_threshold_krw=threshold)
        held = rows("current_holds", run_date=as_of)
        awaiting = rows("awaiting_bank_details", run_date=as_of)[0]
        capped = Warehouse.rows(conn, "finance_over_cap", as_of=as_of)
        decisions = Warehouse.rows(conn, "close_decisions", as_of=as_of)
        days = Warehouse.rows(conn, "finance_days", as_of=as_of)

    tiers_order = [t.basis for t in program.tiers]
    labels = _tier_labels(program)

    def tier_of(group: Mapping) -> str:  # the tier of the paid business's latest loss; no state: unknown
        return "unknown" if group["loss_krw"] is None else _tier_key(program, int(group["loss_krw"]))

    by_tier = _flows(paid, tier_of, "businesses", labels, [*tiers_order, REVIEW, NO_LOSS])
    basis_labels = {t.basis: f"the tier's {t.support_krw:,}" for t in program.tiers}
    basis_labels |= {contract.REVIEW_BASIS: "a council approval", contract.TOP_UP_BASIS: "a top-up to a higher tier"}
    by_basis = _flows(
        paid, lambda g: str(g["basis"]), "basis_businesses", basis_labels, [*contract.basis_codes(program)]
    )

    holds_by_key = {h["claimant_key"]: h for h in held}
    by_reason: dict[str, int] = {}
    for h in held:
        by_reason[h["reason"]] = by_reason.get(h["reason"], 0) + 1
    over_cap: list[OverCapPayment] = [
        {
            "claimant_key": str(o["claimant_key"]),
            "business_reg_no": str(o["business_reg_no"]),
            "amount_krw": int(o["amount_krw"]),
            "cap_krw": int(o["cap_krw"]),
            "basis": str(o["basis"]),
            "held_on": str(o["held_on"]),
        }
        for o in capped
    ]
    standing = {d["decision"]: d for d in decisions}
    approved = standing.get("approved", {"businesses": 0, "approved_krw": 0})
    owed = int(awaiting["owed_krw"]) + sum(o["amount_krw"] for o in over_cap)
    net = money["cumulative"]["net"]["krw"]
    return {
        "program": program.code,
        "config_sha256": program.sha256,
        "day": as_of,
        "requested_day": day.isoformat(),
        "review_threshold_krw": threshold,
        "max_payment_krw": program.max_payment_krw,
        "tiers": [
            {"basis": t.basis, "max_loss_krw": t.max_loss_krw, "support_krw": t.support_krw} for t in program.tiers
        ],
        "money": money,
        "outstanding_age": _ages(groups, as_of),
        "businesses_paid": sum(int(g["businesses"]) for g in paid),
        "by_basis": by_basis,
        "by_tier": by_tier,
        "review_queue": {
            "businesses": len(queue),  # one row per business (review_queue.sql)
            "held": sum(1 for q in queue if q["hold_reason"]),
            "claimed_loss_krw": sum(int(q["loss_krw"]) for q in queue),
            "already_paid_krw": sum(int(q["paid_krw"]) for q in queue),
        },
        "holds": {
            "businesses": len(holds_by_key),
            "by_reason": dict(sorted(by_reason.items())),
            "claimed_loss_krw": sum(int(h["loss_krw"]) for h in holds_by_key.values()),
            "already_paid_krw": sum(int(h["paid_krw"]) for h in holds_by_key.values()),
        },
        "awaiting_bank_details": {"businesses": int(awaiting["businesses"]), "owed_krw": int(awaiting["owed_krw"])},
        "over_cap": {"payments": len(over_cap), "krw": sum(o["amount_krw"] for o in over_cap), "rows": over_cap},
        "budget": {
            "net_krw": net,
            "council_approved_businesses": int(approved["businesses"]),
            "council_approved_krw": int(approved["approved_krw"]),
            "council_rejected_businesses": int(standing.get("rejected", {"businesses": 0})["businesses"]),
            "still_owed_krw": owed,
            "committed_krw": net + owed,
        },
        "daily": _daily(groups, days),
        "losses": _distribution(program, losses),
    }


# Charts (matplotlib, Agg, imported here only) ----------------------------------------------------------------
