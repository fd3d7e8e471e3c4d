"""The finance report as one self-contained HTML page (inline CSS, the charts embedded)."""

from __future__ import annotations

import html
from collections.abc import Mapping

from etl.reports.finance.model import CHARTS, FinanceReport
from etl.reports.finance.rows import (
    _CSS,
    DAILY_HEADER,
    FLOW_HEADER,
    _budget_rows,
    _daily_rows,
    _flow_rows,
    _img,
    _money_rows,
    _n,
    _open_rows,
    _table,
)


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
