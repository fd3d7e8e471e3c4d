"""The finance report's tables as rows: shared by the HTML page and the workbook."""

from __future__ import annotations

import base64
import html
from typing import Any

from etl.reports.finance.model import CHART_TITLES, MONEY_PARTS, FinanceReport, Flow, Money

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
