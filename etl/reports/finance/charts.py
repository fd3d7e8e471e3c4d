"""The finance report's four charts, drawn with matplotlib (Agg, imported here only: about a second)."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from etl.reports.finance.model import CHART_TITLES, FinanceReport


def _thousands(axis: Any) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))


def _svg(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return buf.getvalue()


STYLE: Any = {  # matplotlib rc settings (Any: its stubs type the keys as literals)
    "svg.hashsalt": "outage-relief",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def finance_charts(report: FinanceReport) -> dict[str, bytes]:
    """The four charts as SVG (no dates, fixed ids: the same bytes for the same report), by name (CHARTS)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import rc_context

    days = [dt.date.fromisoformat(p["day"]) for p in report["daily"]]
    with rc_context(STYLE):
        return {
            "loss_distribution": _loss_distribution(report),
            "payments_per_day": _payments_per_day(report, days),
            "cumulative_net": _cumulative_net(report, days),
            "intake_per_day": _intake_per_day(report, days),
        }


def _figure() -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.4), dpi=100)
    fig.subplots_adjust(left=0.12, right=0.86, bottom=0.16, top=0.9)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _date_axis(ax: Any, span: list[dt.date]) -> None:
    """Whole days on x (a day or more either side of the data), whole numbers or KRW on y from 0."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(minticks=3, maxticks=10, interval_multiples=True)
    locator.intervald[3] = [1, 2, 7, 14]  # DAILY: never hours
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    if span:
        ax.set_xlim(span[0] - dt.timedelta(days=1), span[-1] + dt.timedelta(days=1))
    ax.set_ylim(bottom=0)


def _whole(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _mark(ax: Any, x: int, label: str, height: float, ha: str, color: str) -> None:
    """A labelled vertical line at a loss (a tier's edge, the median)."""
    ax.annotate(label, (x, height), xycoords=("data", "axes fraction"), rotation=90, va="top", ha=ha, fontsize=8,
                color=color)  # fmt: skip


def _loss_distribution(report: FinanceReport) -> bytes:
    """The claimed-loss distribution, log x, the tier edges and the median marked."""
    losses = report["losses"]
    fig, ax = _figure()
    if losses["counts"]:
        ax.stairs(losses["counts"], losses["edges_krw"], fill=True, color="#8fb3d9", edgecolor="#3d6a99")
        ax.set_xscale("log")
        _thousands(ax.xaxis)
        for tier in report["tiers"]:
            ax.axvline(tier["max_loss_krw"], color="#b03a2e", linestyle="-", linewidth=1)
            _mark(ax, tier["max_loss_krw"], f"{tier['max_loss_krw']:,}", 1, "right", "#b03a2e")
        if losses["median_krw"]:
            ax.axvline(losses["median_krw"], color="#1e8449", linestyle="--", linewidth=1.2)
            _mark(ax, losses["median_krw"], f"median {losses['median_krw']:,}", 0.85, "left", "#1e8449")
    else:
        ax.text(0.5, 0.5, "no claimed loss yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("claimed loss per business, KRW (log scale)")
    ax.set_ylabel("businesses")
    _whole(ax)
    ax.set_title(CHART_TITLES["loss_distribution"])
    return _svg(fig)


def _payments_per_day(report: FinanceReport, days: list[dt.date]) -> bytes:
    """Payments issued per day: count (bars) and KRW (line, right axis)."""
    fig, ax = _figure()
    ax.bar(days, [p["issued"]["count"] for p in report["daily"]], width=0.8, color="#8fb3d9", label="issued")
    ax.set_ylabel("payments issued")
    _whole(ax)
    _date_axis(ax, days)
    right = ax.twinx()
    right.plot(days, [p["issued"]["krw"] for p in report["daily"]], color="#b03a2e", marker=".", label="KRW")
    right.set_ylabel("KRW issued")
    right.set_ylim(bottom=0)
    right.spines["right"].set_visible(True)
    _thousands(right.yaxis)
    ax.set_title(CHART_TITLES["payments_per_day"])
    return _svg(fig)


def _cumulative_net(report: FinanceReport, days: list[dt.date]) -> bytes:
    fig, ax = _figure()
    ax.step(days, [p["cumulative_net"]["krw"] for p in report["daily"]], where="post", color="#1e8449")
    ax.set_ylabel("net, KRW")
    _thousands(ax.yaxis)
    _date_axis(ax, days)
    ax.set_title(CHART_TITLES["cumulative_net"])
    return _svg(fig)


def _intake_per_day(report: FinanceReport, days: list[dt.date]) -> bytes:
    """The intake curve, up to the last day that received reports (the settlement days receive none)."""
    received = [p["reports_received"] for p in report["daily"]]
    last = max((i for i, n in enumerate(received) if n), default=len(received) - 1)
    fig, ax = _figure()
    ax.bar(days[: last + 1], received[: last + 1], width=0.8, color="#7d6aa8")
    ax.set_ylabel("reports received")
    _thousands(ax.yaxis)
    _date_axis(ax, days[: last + 1])
    ax.set_title(CHART_TITLES["intake_per_day"])
    return _svg(fig)


# The HTML page ----------------------------------------------------------------------------------------------
