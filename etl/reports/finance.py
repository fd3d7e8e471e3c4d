"""The finance report: the program's money as of a day, for the day and cumulative, as a page and a workbook.

`finance_report` gathers everything from the ledger (the files of `sql/reads/`) as of the latest published
day on or before the day asked for: payments issued, settled by the bank, returned by it and still
outstanding (count and KRW; outstanding by age since issue), by basis and by the business's loss tier;
net (issued less returned); what is still open (the review queue's claimed losses, holds, businesses
awaiting bank details, payments held above the cap); net cash against the council's approvals; the daily
series (reports received, payments, KRW, cumulative net) and the distribution of claimed losses.

No account number is ever read: the report names businesses by their registration number at most.

`render_finance_html` and `render_finance_xlsx` give the same bytes for the same report (no clock is read);
`finance_charts` draws the four charts with matplotlib (Agg, imported only here: it takes about a second).
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import html
import io
import json
import statistics
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from etl.core import contract
from etl.core.config import Program
from etl.core.errors import ReliefError
from etl.io.warehouse import Warehouse
from etl.payments.returns import reconcile

AGE_BUCKETS = (("0-7 days", 0, 7), ("8-30 days", 8, 30), (">30 days", 31, None))  # days since issue
MONEY_PARTS = ("issued", "settled", "returned", "outstanding", "net")
CHARTS = ("loss_distribution", "payments_per_day", "cumulative_net", "intake_per_day")
CHART_TITLES = {
    "loss_distribution": "Claimed loss per small business (KRW, log scale)",
    "payments_per_day": "Payments issued per day: count and KRW",
    "cumulative_net": "Cumulative net (issued less returned), KRW",
    "intake_per_day": "Damage reports received per day",
}
REVIEW, NO_LOSS = "review", "no_loss"


class Money(TypedDict):
    count: int
    krw: int


class DayMoney(TypedDict):
    issued: Money
    settled: Money
    returned: Money
    net: Money


class CumulativeMoney(TypedDict):
    issued: Money
    settled: Money
    returned: Money
    outstanding: Money
    net: Money


class MoneyTotals(TypedDict):
    as_of: str
    day: DayMoney
    cumulative: CumulativeMoney
    balanced: bool  # issued = settled + returned + outstanding, and net agrees with payments_total_as_of


class AgeBucket(TypedDict):
    age: str
    count: int
    krw: int


class Flow(TypedDict):
    """Payments of one group (a basis, or a loss tier of the business paid): counts and KRW by bank state."""

    key: str
    label: str
    businesses: int  # distinct businesses paid in the group
    issued: Money
    settled: Money
    returned: Money
    outstanding: Money
    net: Money


class Band(TypedDict):
    key: str
    label: str
    businesses: int
    claimed_loss_krw: int


class LossDistribution(TypedDict):
    businesses: int  # small businesses with a claim counted for money
    with_loss: int  # ... of which with a loss above zero (the histogram)
    median_krw: int | None  # the median of the losses above zero (the lower one for an even count)
    edges_krw: list[int]  # histogram bin edges, ten a decade
    counts: list[int]
    bands: list[Band]  # businesses by the tier their loss falls in


class ReviewExposure(TypedDict):
    businesses: int
    held: int  # of which also held by the fraud checks
    claimed_loss_krw: int
    already_paid_krw: int


class Holds(TypedDict):
    businesses: int
    by_reason: dict[str, int]
    claimed_loss_krw: int
    already_paid_krw: int


class Awaiting(TypedDict):
    businesses: int
    owed_krw: int


class OverCapPayment(TypedDict):
    claimant_key: str
    business_reg_no: str
    amount_krw: int
    cap_krw: int
    basis: str
    held_on: str


class OverCap(TypedDict):
    payments: int
    krw: int
    rows: list[OverCapPayment]


class Budget(TypedDict):
    net_krw: int  # cash paid: issued less returned
    council_approved_businesses: int
    council_approved_krw: int  # the council's standing approvals (each a business's whole cash support)
    council_rejected_businesses: int
    still_owed_krw: int  # awaiting bank details plus held above the cap
    committed_krw: int  # net + still owed


class DayPoint(TypedDict):
    day: str
    reports_received: int
    issued: Money
    settled: Money
    returned: Money
    net: Money
    cumulative_net: Money


class TierEdge(TypedDict):
    basis: str
    max_loss_krw: int
    support_krw: int


class FinanceReport(TypedDict):
    program: str
    config_sha256: str
    day: str  # the day the report is as of: the latest published day on or before the one asked for
    requested_day: str
    review_threshold_krw: int
    max_payment_krw: int
    tiers: list[TierEdge]
    money: MoneyTotals
    outstanding_age: list[AgeBucket]
    businesses_paid: int  # distinct businesses with a payment issued
    by_basis: list[Flow]
    by_tier: list[Flow]
    review_queue: ReviewExposure
    holds: Holds
    awaiting_bank_details: Awaiting
    over_cap: OverCap
    budget: Budget
    daily: list[DayPoint]
    losses: LossDistribution


# Gathering ------------------------------------------------------------------------------------------------


def _money() -> Money:
    return {"count": 0, "krw": 0}


def _add(m: Money, amount: int) -> None:
    m["count"] += 1
    m["krw"] += amount


def _less(a: Money, b: Money) -> Money:
    return {"count": a["count"] - b["count"], "krw": a["krw"] - b["krw"]}


def published_day(conn: Any, day: dt.date) -> str:
    """The latest published day on or before `day` (what every figure is as of)."""
    latest = Warehouse.rows(conn, "latest_day_run", as_of=day.isoformat())
    if not latest:
        raise ReliefError(f"no day is published on or before {day}: run `relief run-day` first")
    return str(latest[0]["run_date"])


def money_totals(conn: Any, as_of: str, payments: list[dict] | None = None) -> MoneyTotals:
    """Issued, settled, returned, outstanding and net (count, KRW), for the day `as_of` and cumulative.

    The reconciliation's own arithmetic (etl/payments/returns.py), so these agree with reconciliation.json.
    """
    rows = payments if payments is not None else Warehouse.rows(conn, "finance_payments", as_of=as_of)
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


def _flows(payments: list[dict], group: Mapping[str, str], labels: Mapping[str, str], order: list[str]) -> list[Flow]:
    """Payments grouped by `group[payment_id]`, in `order` then any other key alphabetically."""
    flows: dict[str, Flow] = {}
    paid: dict[str, set[str]] = {}
    for p in payments:
        key = group[p["payment_id"]]
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
        amount = int(p["amount_krw"])
        _add(f["issued"], amount)
        _add(_state(f, p["status"]), amount)
        paid.setdefault(key, set()).add(p["claimant_key"])
    for key, f in flows.items():
        f["businesses"] = len(paid[key])
        f["net"] = _less(f["issued"], f["returned"])
    rank = {k: i for i, k in enumerate(order)}
    return [flows[k] for k in sorted(flows, key=lambda k: (rank.get(k, len(rank)), k))]


def _ages(payments: list[dict], as_of: str) -> list[AgeBucket]:
    day = dt.date.fromisoformat(as_of)
    out: list[AgeBucket] = [{"age": name, "count": 0, "krw": 0} for name, _, _ in AGE_BUCKETS]
    for p in payments:
        if p["status"]:
            continue
        age = (day - dt.date.fromisoformat(p["run_date"])).days
        for bucket, (_, low, high) in zip(out, AGE_BUCKETS):
            if age >= low and (high is None or age <= high):
                bucket["count"] += 1
                bucket["krw"] += int(p["amount_krw"])
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


def _distribution(program: Program, states: list[dict]) -> LossDistribution:
    losses = sorted(int(s["loss_krw"]) for s in states)
    positive = [v for v in losses if v > 0]
    edges = loss_edges(positive)
    counts = [0] * max(len(edges) - 1, 0)
    for v in positive:
        counts[min(bisect.bisect_right(edges, v) - 1, len(counts) - 1)] += 1
    labels = _tier_labels(program)
    bands: dict[str, Band] = {
        k: {"key": k, "label": labels[k], "businesses": 0, "claimed_loss_krw": 0}
        for k in [*(t.basis for t in program.tiers), REVIEW, NO_LOSS]
    }
    for v in losses:
        band = bands[_tier_key(program, v)]
        band["businesses"] += 1
        band["claimed_loss_krw"] += v
    return {
        "businesses": len(losses),
        "with_loss": len(positive),
        "median_krw": int(statistics.median_low(positive)) if positive else None,
        "edges_krw": edges,
        "counts": counts,
        "bands": [b for b in bands.values() if b["key"] != NO_LOSS or b["businesses"]],
    }


def _daily(payments: list[dict], days: list[dict]) -> list[DayPoint]:
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
    for p in payments:
        amount = int(p["amount_krw"])
        _add(point(p["run_date"])["issued"], amount)
        if p["status"]:
            _add(_state(point(p["result_date"]), p["status"]), amount)
    running = _money()
    out = []
    for day in sorted(points):
        pt = points[day]
        pt["net"] = _less(pt["issued"], pt["returned"])
        running = {"count": running["count"] + pt["net"]["count"], "krw": running["krw"] + pt["net"]["krw"]}
        pt["cumulative_net"] = dict(running)  # type: ignore[typeddict-item]
        out.append(pt)
    return out


def finance_report(wh: Warehouse, program: Program, day: dt.date) -> FinanceReport:
    """Every money figure of the program as of the latest published day on or before `day`, in one read."""
    threshold = program.review_threshold_krw
    with wh.begin() as conn:
        as_of = published_day(conn, day)
        payments = Warehouse.rows(conn, "finance_payments", as_of=as_of)
        money = money_totals(conn, as_of, payments)
        states = Warehouse.rows(conn, "close_latest_states", as_of=as_of)
        queue = Warehouse.rows(conn, "review_queue", run_date=as_of, review_threshold_krw=threshold)
        held = Warehouse.rows(conn, "current_holds", run_date=as_of)
        awaiting = Warehouse.rows(conn, "awaiting_bank_details", run_date=as_of)[0]
        capped = Warehouse.rows(conn, "finance_over_cap", as_of=as_of)
        decisions = Warehouse.rows(conn, "close_decisions", as_of=as_of)
        days = Warehouse.rows(conn, "finance_days", as_of=as_of)

    tiers_order = [t.basis for t in program.tiers]
    labels = _tier_labels(program)
    tier_of = {s["claimant_key"]: _tier_key(program, int(s["loss_krw"])) for s in states}
    by_tier = _flows(
        payments,
        {p["payment_id"]: tier_of.get(p["claimant_key"], "unknown") for p in payments},
        labels,
        [*tiers_order, REVIEW, NO_LOSS],
    )
    basis_labels = {t.basis: f"the tier's {t.support_krw:,}" for t in program.tiers}
    basis_labels |= {contract.REVIEW_BASIS: "a council approval", contract.TOP_UP_BASIS: "a top-up to a higher tier"}
    by_basis = _flows(
        payments, {p["payment_id"]: str(p["basis"]) for p in payments}, basis_labels, [*contract.basis_codes(program)]
    )

    in_queue = {q["claimant_key"]: q for q in queue}  # a business with two hold reasons is listed twice
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
        "outstanding_age": _ages(payments, as_of),
        "businesses_paid": len({p["claimant_key"] for p in payments}),
        "by_basis": by_basis,
        "by_tier": by_tier,
        "review_queue": {
            "businesses": len(in_queue),
            "held": sum(1 for q in in_queue.values() if q["hold_reason"]),
            "claimed_loss_krw": sum(int(q["loss_krw"]) for q in in_queue.values()),
            "already_paid_krw": sum(int(q["paid_krw"]) for q in in_queue.values()),
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
        "daily": _daily(payments, days),
        "losses": _distribution(program, states),
    }


# Charts (matplotlib, Agg, imported here only) ----------------------------------------------------------------


def _thousands(axis: Any) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))


def _svg(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return buf.getvalue()


def finance_charts(report: FinanceReport) -> dict[str, bytes]:
    """The four charts as SVG (no dates, fixed ids: the same bytes for the same report), by name (CHARTS)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    style: Any = {
        "svg.hashsalt": "outage-relief",
        "svg.fonttype": "path",
        "font.family": "DejaVu Sans",
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
    days = [dt.date.fromisoformat(p["day"]) for p in report["daily"]]
    charts: dict[str, bytes] = {}
    with rc_context(style):

        def figure() -> tuple[Any, Any]:
            fig = Figure(figsize=(8, 3.4), dpi=100)
            fig.subplots_adjust(left=0.12, right=0.86, bottom=0.16, top=0.9)
            FigureCanvasAgg(fig)
            return fig, fig.add_subplot()

        def date_axis(ax: Any, span: list[dt.date] = days) -> None:
            """Whole days on x (a day or more either side of the data), whole numbers or KRW on y from 0."""
            from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

            locator = AutoDateLocator(minticks=3, maxticks=10, interval_multiples=True)
            locator.intervald[3] = [1, 2, 7, 14]  # DAILY: never hours
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
            if span:
                ax.set_xlim(span[0] - dt.timedelta(days=1), span[-1] + dt.timedelta(days=1))
            ax.set_ylim(bottom=0)

        def whole(ax: Any) -> None:
            from matplotlib.ticker import MaxNLocator

            ax.yaxis.set_major_locator(MaxNLocator(integer=True))

        # The claimed-loss distribution, log x, the tier edges and the median marked.
        losses = report["losses"]
        fig, ax = figure()
        if losses["counts"]:
            ax.stairs(losses["counts"], losses["edges_krw"], fill=True, color="#8fb3d9", edgecolor="#3d6a99")
            ax.set_xscale("log")
            _thousands(ax.xaxis)
            for tier in report["tiers"]:
                ax.axvline(tier["max_loss_krw"], color="#b03a2e", linestyle="-", linewidth=1)
                ax.annotate(
                    f"{tier['max_loss_krw']:,}",
                    (tier["max_loss_krw"], 1),
                    xycoords=("data", "axes fraction"),
                    rotation=90,
                    va="top",
                    ha="right",
                    fontsize=8,
                    color="#b03a2e",
                )
            if losses["median_krw"]:
                ax.axvline(losses["median_krw"], color="#1e8449", linestyle="--", linewidth=1.2)
                ax.annotate(
                    f"median {losses['median_krw']:,}",
                    (losses["median_krw"], 0.85),
                    xycoords=("data", "axes fraction"),
                    rotation=90,
                    va="top",
                    ha="left",
                    fontsize=8,
                    color="#1e8449",
                )
        else:
            ax.text(0.5, 0.5, "no claimed loss yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel("claimed loss per business, KRW (log scale)")
        ax.set_ylabel("businesses")
        whole(ax)
        ax.set_title(CHART_TITLES["loss_distribution"])
        charts["loss_distribution"] = _svg(fig)

        # Payments issued per day: count (bars) and KRW (line, right axis).
        fig, ax = figure()
        ax.bar(days, [p["issued"]["count"] for p in report["daily"]], width=0.8, color="#8fb3d9", label="issued")
        ax.set_ylabel("payments issued")
        whole(ax)
        date_axis(ax)
        right = ax.twinx()
        right.plot(days, [p["issued"]["krw"] for p in report["daily"]], color="#b03a2e", marker=".", label="KRW")
        right.set_ylabel("KRW issued")
        right.set_ylim(bottom=0)
        right.spines["right"].set_visible(True)
        _thousands(right.yaxis)
        ax.set_title(CHART_TITLES["payments_per_day"])
        charts["payments_per_day"] = _svg(fig)

        # Cumulative net.
        fig, ax = figure()
        ax.step(days, [p["cumulative_net"]["krw"] for p in report["daily"]], where="post", color="#1e8449")
        ax.set_ylabel("net, KRW")
        _thousands(ax.yaxis)
        date_axis(ax)
        ax.set_title(CHART_TITLES["cumulative_net"])
        charts["cumulative_net"] = _svg(fig)

        # The intake curve, up to the last day that received reports (the settlement days receive none).
        received = [p["reports_received"] for p in report["daily"]]
        last = max((i for i, n in enumerate(received) if n), default=len(received) - 1)
        fig, ax = figure()
        ax.bar(days[: last + 1], received[: last + 1], width=0.8, color="#7d6aa8")
        ax.set_ylabel("reports received")
        _thousands(ax.yaxis)
        date_axis(ax, days[: last + 1])
        ax.set_title(CHART_TITLES["intake_per_day"])
        charts["intake_per_day"] = _svg(fig)
    return charts


# The HTML page ----------------------------------------------------------------------------------------------

_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"Noto Sans KR",sans-serif;margin:2em auto;max-width:70em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}th,td{padding:.25em .7em;border-bottom:1px solid #e3e3e3}
th{text-align:left;background:#f4f6f8}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.total td,tr.total th{font-weight:bold;border-top:2px solid #999}
figure{margin:1em 0}figure img{max-width:100%}figcaption{color:#555;font-size:.9em}
.note{color:#555;font-size:.9em}.bad{color:#b03a2e;font-weight:bold}
""".strip()


def _n(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _table(table_id: str, header: list[str], rows: list[list[Any]], total: list[Any] | None = None) -> str:
    """A table: the first cell of a row is its label (th), the others numbers (int) or text."""

    def cells(row: list[Any]) -> str:
        first, rest = row[0], row[1:]
        out = f"<th>{html.escape(str(first))}</th>"
        for v in rest:
            out += f'<td class="n">{_n(v)}</td>' if isinstance(v, int) else f"<td>{html.escape(str(v))}</td>"
        return out

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(f"<tr>{cells(r)}</tr>" for r in rows)
    if total is not None:
        body += f'<tr class="total">{cells(total)}</tr>'
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _money_rows(report: FinanceReport) -> list[list[Any]]:
    day, cum = report["money"]["day"], report["money"]["cumulative"]
    rows: list[list[Any]] = []
    for part in MONEY_PARTS:
        d: Money | None = day.get(part)  # type: ignore[assignment]  # no outstanding for a day
        c: Money = cum[part]  # type: ignore[literal-required]
        rows.append([part, d["count"] if d else "", d["krw"] if d else "", c["count"], c["krw"]])
    return rows


def _flow_rows(flows: list[Flow], businesses_paid: int) -> tuple[list[list[Any]], list[Any]]:
    """The rows of a breakdown and its totals row (businesses: distinct, a business may be in two groups)."""
    rows, total = [], ["total", "", businesses_paid, *([0] * 2 * len(MONEY_PARTS))]
    for f in flows:
        row: list[Any] = [f["key"], f["label"] if f["label"] != f["key"] else "", f["businesses"]]
        for part in MONEY_PARTS:
            m: Money = f[part]  # type: ignore[literal-required]
            row += [m["count"], m["krw"]]
        rows.append(row)
        for i in range(3, len(row)):
            total[i] += row[i]
    return rows, total


FLOW_HEADER = ["group", "", "businesses", *(f"{p} {u}" for p in MONEY_PARTS for u in ("count", "KRW"))]


def _daily_rows(report: FinanceReport) -> tuple[list[list[Any]], list[Any]]:
    rows: list[list[Any]] = []
    for p in report["daily"]:
        rows.append(
            [
                p["day"],
                p["reports_received"],
                p["issued"]["count"],
                p["issued"]["krw"],
                p["settled"]["count"],
                p["settled"]["krw"],
                p["returned"]["count"],
                p["returned"]["krw"],
                p["net"]["count"],
                p["net"]["krw"],
                p["cumulative_net"]["krw"],
            ]
        )
    total: list[Any] = ["total", *(sum(r[i] for r in rows) for i in range(1, 10))]
    total.append(rows[-1][10] if rows else 0)
    return rows, total


DAILY_HEADER = [
    "day",
    "reports received",
    "issued",
    "issued KRW",
    "settled",
    "settled KRW",
    "returned",
    "returned KRW",
    "net",
    "net KRW",
    "cumulative net KRW",
]


def _open_rows(report: FinanceReport) -> list[list[Any]]:
    q, h, a, o = report["review_queue"], report["holds"], report["awaiting_bank_details"], report["over_cap"]
    return [
        ["review queue: businesses over the threshold", q["businesses"], "", ""],
        ["review queue: claimed loss", "", q["claimed_loss_krw"], "what they claim, not what they will get"],
        ["review queue: already paid (tier payments)", "", q["already_paid_krw"], "deducted from an approval"],
        ["review queue: of which held", q["held"], "", ""],
        [
            "holds: businesses held by the fraud checks",
            h["businesses"],
            "",
            ", ".join(f"{k} {v:,}" for k, v in h["by_reason"].items()),
        ],
        ["holds: claimed loss", "", h["claimed_loss_krw"], ""],
        ["holds: already paid", "", h["already_paid_krw"], ""],
        ["awaiting bank details: businesses owed", a["businesses"], a["owed_krw"], "owed, not yet payable"],
        [
            "payments held above the cap",
            o["payments"],
            o["krw"],
            f"cap {report['max_payment_krw']:,} KRW each; relief release",
        ],
    ]


def _budget_rows(report: FinanceReport) -> list[list[Any]]:
    b = report["budget"]
    return [
        ["net (issued less returned)", b["net_krw"]],
        ["still owed (awaiting bank details, held above the cap)", b["still_owed_krw"]],
        ["committed (net + still owed)", b["committed_krw"]],
        [f"council approvals standing ({b['council_approved_businesses']:,} businesses)", b["council_approved_krw"]],
        ["council rejections standing (businesses)", b["council_rejected_businesses"]],
    ]


def _img(name: str, data: bytes) -> str:
    kind = "image/svg+xml" if data.lstrip().startswith((b"<?xml", b"<svg")) else "image/png"
    src = f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
    title = html.escape(CHART_TITLES.get(name, name))
    return f'<figure id="chart-{name}"><img alt="{title}" src="{src}"><figcaption>{title}</figcaption></figure>'


def render_finance_html(report: FinanceReport, charts: Mapping[str, bytes]) -> bytes:
    """One self-contained page (inline CSS, charts embedded base64): the same bytes for the same inputs."""
    r = report
    money = r["money"]
    flows_basis, total_basis = _flow_rows(r["by_basis"], r["businesses_paid"])
    flows_tier, total_tier = _flow_rows(r["by_tier"], r["businesses_paid"])
    daily, daily_total = _daily_rows(r)
    ages = [[a["age"], a["count"], a["krw"]] for a in r["outstanding_age"]]
    age_total = ["total", sum(a["count"] for a in r["outstanding_age"]), sum(a["krw"] for a in r["outstanding_age"])]
    losses = r["losses"]
    bands = [[b["key"], b["label"], b["businesses"], b["claimed_loss_krw"]] for b in losses["bands"]]
    band_total = ["total", "", losses["businesses"], sum(b["claimed_loss_krw"] for b in losses["bands"])]
    cap = [
        [o["claimant_key"], o["business_reg_no"], o["amount_krw"], o["cap_krw"], o["basis"], o["held_on"]]
        for o in r["over_cap"]["rows"]
    ]
    balanced = "yes" if money["balanced"] else '<span class="bad">NO</span>'
    late = (
        ""
        if r["day"] == r["requested_day"]
        else f" (asked for {html.escape(r['requested_day'])}: the latest published day on or before it)"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(r['program'])}: finance report as of {html.escape(r['day'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(r['program'])}: finance report as of {html.escape(r['day'])}</h1>",
        f'<p class="note">As of the published day {html.escape(r["day"])}{late}. Money is whole KRW. A payment is'
        " <em>issued</em> when its day is published, <em>settled</em> or <em>returned</em> when the bank says so,"
        " <em>outstanding</em> until then; <em>net</em> is issued less returned. Reconciliation balanced:"
        f" {balanced}. Config sha256 {html.escape(r['config_sha256'][:12])}.</p>",
        "<h2>Money: the day and cumulative</h2>",
        _table("money", ["", "day count", "day KRW", "cumulative count", "cumulative KRW"], _money_rows(r)),
        "<h2>Outstanding payments by age (days since issue)</h2>",
        _table("outstanding-age", ["age", "payments", "KRW"], ages, age_total),
        "<h2>By basis</h2>",
        _table("by-basis", FLOW_HEADER, flows_basis, total_basis),
        "<h2>By tier (the loss of the business paid)</h2>",
        _table("by-tier", FLOW_HEADER, flows_tier, total_tier),
        "<h2>Open: reviews, holds, bank details, the cap</h2>",
        _table("open", ["", "businesses / payments", "KRW", "note"], _open_rows(r)),
        "<h2>Cash against the council's approvals</h2>",
        _table("budget", ["", "KRW"], _budget_rows(r)),
    ]
    if cap:
        parts += [
            "<h2>Payments held above the cap</h2>",
            _table(
                "over-cap",
                ["claimant_key", "business_reg_no", "amount KRW", "cap KRW", "basis", "held on"],
                cap,
                ["total", "", r["over_cap"]["krw"], "", "", ""],
            ),
        ]
    median = _n(losses["median_krw"]) or "-"
    parts += [
        "<h2>Charts</h2>",
        *(_img(name, charts[name]) for name in CHARTS if name in charts),
        "<h2>Claimed losses of small businesses by tier</h2>",
        f'<p class="note">{losses["businesses"]:,} businesses, {losses["with_loss"]:,} with a loss above zero;'
        f" median {median} KRW.</p>",
        _table("loss-bands", ["tier", "", "businesses", "claimed loss KRW"], bands, band_total),
        "<h2>Day by day</h2>",
        _table("daily", DAILY_HEADER, daily, daily_total),
        "</body></html>",
        "",
    ]
    return "\n".join(parts).encode("utf-8")


# The workbook -------------------------------------------------------------------------------------------------


def render_finance_xlsx(report: FinanceReport) -> bytes:
    """The report as a workbook: one sheet a table, frozen headers, totals rows, native charts on `Daily`.

    Every code (day, basis, business number) is a text cell; the file's dates are the report's day, so the
    same report gives the same bytes.
    """
    from etl.reports.sheets import Sheet, new_workbook

    r = report
    buf = io.BytesIO()
    wb = new_workbook(buf, f"{r['program']}: finance report as of {r['day']}", dt.date.fromisoformat(r["day"]))
    sheet = Sheet(wb)

    sheet.add(
        "Money",
        ["figure", "day count", "day KRW", "cumulative count", "cumulative KRW"],
        _money_rows(r),
        text_columns={"figure"},
        amount_columns={"day KRW", "cumulative KRW"},
        total_columns=(),
    )
    age_rows = [[a["age"], a["count"], a["krw"]] for a in r["outstanding_age"]]
    sheet.add(
        "Outstanding age",
        ["age", "payments", "KRW"],
        age_rows,
        text_columns={"age"},
        amount_columns={"KRW"},
        total_columns={"payments", "KRW"},
    )
    flow_header = ["group", "label", *FLOW_HEADER[2:]]
    flow_amounts = {h for h in flow_header if h.endswith("KRW")}
    flow_totals = set(flow_header[2:])
    for title, flows in (("By basis", r["by_basis"]), ("By tier", r["by_tier"])):
        rows, _ = _flow_rows(flows, r["businesses_paid"])
        sheet.add(
            title,
            flow_header,
            rows,
            text_columns={"group", "label"},
            amount_columns=flow_amounts,
            total_columns=flow_totals,
            totals={"businesses": r["businesses_paid"]},
        )
    sheet.add(
        "Open",
        ["item", "businesses / payments", "KRW", "note"],
        _open_rows(r),
        text_columns={"item", "note"},
        amount_columns={"KRW"},
        total_columns=(),
    )
    sheet.add(
        "Budget", ["figure", "KRW"], _budget_rows(r), text_columns={"figure"}, amount_columns={"KRW"}, total_columns=()
    )
    cap_header = ["claimant_key", "business_reg_no", "amount_krw", "cap_krw", "basis", "held_on"]
    cap_rows = [[o[k] for k in cap_header] for o in r["over_cap"]["rows"]]  # type: ignore[literal-required]
    sheet.add(
        "Over cap",
        cap_header,
        cap_rows,
        text_columns={"claimant_key", "business_reg_no", "basis", "held_on"},
        amount_columns={"amount_krw", "cap_krw"},
        total_columns={"amount_krw"},
    )
    losses = r["losses"]
    band_rows = [[b["key"], b["label"], b["businesses"], b["claimed_loss_krw"]] for b in losses["bands"]]
    sheet.add(
        "Losses by tier",
        ["tier", "label", "businesses", "claimed loss KRW"],
        band_rows,
        text_columns={"tier", "label"},
        amount_columns={"claimed loss KRW"},
        total_columns={"businesses", "claimed loss KRW"},
    )
    hist = [[lo, hi, n] for lo, hi, n in zip(losses["edges_krw"], losses["edges_krw"][1:], losses["counts"])]
    sheet.add(
        "Loss histogram",
        ["loss from KRW", "loss below KRW", "businesses"],
        hist,
        amount_columns={"loss from KRW", "loss below KRW"},
        total_columns={"businesses"},
    )

    daily, _ = _daily_rows(r)
    daily_totals = set(DAILY_HEADER[1:-1])
    ws = sheet.add(
        "Daily",
        DAILY_HEADER,
        daily,
        text_columns={"day"},
        amount_columns={h for h in DAILY_HEADER if h.endswith("KRW")},
        total_columns=daily_totals,
    )
    n = len(daily)
    if n:
        col = {h: i for i, h in enumerate(DAILY_HEADER)}
        cats = ["Daily", 1, 0, n, 0]
        per_day = wb.add_chart({"type": "column"})
        per_day.add_series(
            {"name": "payments issued", "categories": cats, "values": ["Daily", 1, col["issued"], n, col["issued"]]}
        )
        line = wb.add_chart({"type": "line"})
        line.add_series(
            {
                "name": "KRW issued",
                "categories": cats,
                "y2_axis": True,
                "values": ["Daily", 1, col["issued KRW"], n, col["issued KRW"]],
            }
        )
        per_day.combine(line)
        per_day.set_title({"name": "Payments issued per day"})
        per_day.set_y_axis({"name": "payments"})
        line.set_y2_axis({"name": "KRW", "num_format": "#,##0"})
        per_day.set_legend({"position": "bottom"})
        ws.insert_chart(1, len(DAILY_HEADER) + 1, per_day, {"x_scale": 1.5, "y_scale": 1.2})
        cum = wb.add_chart({"type": "line"})
        cum.add_series(
            {
                "name": "cumulative net KRW",
                "categories": cats,
                "values": ["Daily", 1, col["cumulative net KRW"], n, col["cumulative net KRW"]],
            }
        )
        cum.set_title({"name": "Cumulative net (issued less returned)"})
        cum.set_y_axis({"name": "KRW", "num_format": "#,##0"})
        cum.set_legend({"none": True})
        ws.insert_chart(20, len(DAILY_HEADER) + 1, cum, {"x_scale": 1.5, "y_scale": 1.2})
    wb.close()
    return buf.getvalue()


def build_finance_files(wh: Warehouse, program: Program, day: dt.date) -> dict[str, bytes]:
    """The report's files by name: finance.json, finance.html (with the charts) and finance.xlsx."""
    report = finance_report(wh, program, day)
    return {
        "finance.json": (json.dumps(report, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8"),
        "finance.html": render_finance_html(report, finance_charts(report)),
        "finance.xlsx": render_finance_xlsx(report),
    }
