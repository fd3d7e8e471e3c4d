"""The finance report as a workbook (xlsxwriter, native charts, text-typed codes, fixed metadata)."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from etl.reports.finance.model import FinanceReport
from etl.reports.finance.rows import (
    DAILY_HEADER,
    FLOW_HEADER,
    _budget_rows,
    _daily_rows,
    _flow_rows,
    _money_rows,
    _open_rows,
)


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
    _money_sheets(sheet, r)
    _flow_sheets(sheet, r)
    _open_sheets(sheet, r)
    _loss_sheets(sheet, r)
    _daily_sheet(wb, sheet, r)
    wb.close()
    return buf.getvalue()


def _money_sheets(sheet: Any, r: FinanceReport) -> None:
    """Money (issued, settled, returned, outstanding, net) and the outstanding payments' ages."""
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


def _flow_sheets(sheet: Any, r: FinanceReport) -> None:
    """The payments by basis and by tier."""
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


def _open_sheets(sheet: Any, r: FinanceReport) -> None:
    """What is still open (review queue, holds, awaiting bank details), the budget, the payments over the cap."""
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


def _loss_sheets(sheet: Any, r: FinanceReport) -> None:
    """The claimed losses by tier and as a histogram."""
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


def _daily_sheet(wb: Any, sheet: Any, r: FinanceReport) -> None:
    """The daily series, with its two native charts beside it."""
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
