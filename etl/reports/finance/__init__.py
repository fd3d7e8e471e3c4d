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

import datetime as dt
import json
from collections.abc import Callable, Mapping

from etl.core.config import Program
from etl.io.warehouse import Warehouse
from etl.reports.finance.charts import finance_charts
from etl.reports.finance.gather import finance_report, loss_edges, money_totals, published_day
from etl.reports.finance.html_page import render_finance_html
from etl.reports.finance.model import (
    AGE_BUCKETS,
    CHART_TITLES,
    CHARTS,
    MONEY_PARTS,
    NO_LOSS,
    REVIEW,
    AgeBucket,
    Awaiting,
    Band,
    Budget,
    CumulativeMoney,
    DayMoney,
    DayPoint,
    FinanceReport,
    Flow,
    Holds,
    LossDistribution,
    Money,
    MoneyTotals,
    OverCap,
    OverCapPayment,
    ReviewExposure,
    TierEdge,
)
from etl.reports.finance.rows import DAILY_HEADER, FLOW_HEADER
from etl.reports.finance.workbook import render_finance_xlsx

__all__ = [
    "AGE_BUCKETS",
    "CHARTS",
    "CHART_TITLES",
    "DAILY_HEADER",
    "FLOW_HEADER",
    "MONEY_PARTS",
    "NO_LOSS",
    "REVIEW",
    "AgeBucket",
    "Awaiting",
    "Band",
    "Budget",
    "CumulativeMoney",
    "DayMoney",
    "DayPoint",
    "FinanceReport",
    "Flow",
    "Holds",
    "LossDistribution",
    "Money",
    "MoneyTotals",
    "OverCap",
    "OverCapPayment",
    "ReviewExposure",
    "TierEdge",
    "build_finance_files",
    "finance_charts",
    "finance_report",
    "loss_edges",
    "money_totals",
    "published_day",
    "render_finance_html",
    "render_finance_xlsx",
]


def build_finance_files(
    wh: Warehouse,
    program: Program,
    day: dt.date,
    charts: Callable[[FinanceReport], dict[str, bytes]] | None = None,
    read_as_of: Mapping[str, list[dict]] | None = None,
) -> dict[str, bytes]:
    """The report's files by name: finance.json, finance.html (with the charts) and finance.xlsx.

    `charts` draws the charts (default `finance_charts`, here; a sidecar's call draws them in another process).
    `read_as_of`: rows publish has read of the day already (`finance_report`).
    """
    report = finance_report(wh, program, day, read_as_of)
    return {
        "finance.json": (json.dumps(report, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8"),
        "finance.html": render_finance_html(report, (charts or finance_charts)(report)),
        "finance.xlsx": render_finance_xlsx(report),
    }
