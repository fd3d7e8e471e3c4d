"""What an approver sees of a day's payment batch before releasing it, gathered from the warehouse.

`approval_view` reads the day's computed batch and the ledger around it: the batch's SHA-256 (the one the
approval records), payments and KRW by basis, the largest payments with their accounts masked, the review
queue and holds as of the day, the cash paid so far (net of returns) before and after this batch, and
where to look further: a masked preview of every payee (written here, `reports/DAY/approval/payees.html`),
the day's Data Docs (`reports/DAY/data_docs/index.html`) and the day's finance report
(`reports/finance/DAY/finance.html`, written when the day is published).

Links are `RELIEF_OUTBOX_URL` + the outbox-relative path when the outbox is served (a file server in front
of it), else `file://` URLs of the outbox's paths. No full account number and no business registration
number is in the view (it goes to Airflow's XCom and the approval form): accounts are masked as
`etl.core.pii.mask_account`, the account holder's name to its first character.
"""

from __future__ import annotations

import datetime as dt
import html
import os
from collections import defaultdict
from pathlib import Path
from typing import TypedDict

from etl.core.config import Program
from etl.core.pii import mask_account
from etl.io.outbox import ensure_dir, write_atomic
from etl.io.warehouse import Warehouse
from etl.payments.approval import facts_of

ENV_OUTBOX_URL = "RELIEF_OUTBOX_URL"
PREVIEW_ROWS = 10


class BasisLine(TypedDict):
    basis: str
    payments: int
    krw: int


class PreviewRow(TypedDict):
    payment_id: str
    payee_name: str
    account_holder: str
    bank_code: str
    account: str  # masked
    amount_krw: int
    basis: str


class Link(TypedDict):
    path: str  # relative to the outbox
    url: str
    exists: bool


class ApprovalView(TypedDict):
    run_date: str
    batch_sha256: str
    payments: int
    control_sum_krw: int
    largest_payment_krw: int
    by_basis: list[BasisLine]
    review_queue: int
    holds: int
    paid_before_krw: int  # net of returns, every day before this one
    paid_after_krw: int  # the same with this batch
    preview: list[PreviewRow]  # the largest payments
    links: dict[str, Link]


def outbox_url(outbox: Path, relative: str) -> str:
    """The URL a person opens for an outbox path: under `RELIEF_OUTBOX_URL` if set, else a file:// URL."""
    base = os.environ.get(ENV_OUTBOX_URL, "").strip()
    if base:
        return base.rstrip("/") + "/" + relative.lstrip("/")
    return (Path(outbox).resolve() / relative).as_uri()


def link(outbox: Path, relative: str) -> Link:
    return {"path": relative, "url": outbox_url(outbox, relative), "exists": (Path(outbox) / relative).exists()}


# The pages people open for a day, by name, relative to the outbox: the approval form and the tasks' links in
# the Airflow UI (etl/airflow_shared.py) both point here.
DAY_PAGES = {
    "payee_preview": "reports/{day}/approval/payees.html",
    "data_docs": "reports/{day}/data_docs/index.html",
    "finance_report": "reports/finance/{day}/finance.html",
}


def day_page(name: str, day: dt.date) -> str:
    """A day's page (DAY_PAGES), relative to the outbox."""
    return DAY_PAGES[name].format(day=day.isoformat())


def day_links(outbox: Path, day: dt.date) -> dict[str, Link]:
    """The pages people open for a day (they may not exist yet: `exists` says)."""
    return {name: link(outbox, day_page(name, day)) for name in DAY_PAGES}


def mask_name(name: str) -> str:
    """A person's name as the form shows it: its first character, the rest starred."""
    name = (name or "").strip()
    return name[:1] + "*" * max(len(name) - 1, 0)


def _preview_row(p: dict) -> PreviewRow:
    return {
        "payment_id": str(p["payment_id"]),
        "payee_name": str(p.get("payee_name") or ""),
        "account_holder": mask_name(str(p.get("account_holder") or "")),
        "bank_code": str(p.get("bank_code") or ""),
        "account": mask_account(str(p.get("account_no") or "")),
        "amount_krw": int(p["amount_krw"]),
        "basis": str(p["basis"]),
    }


def approval_view(
    wh: Warehouse, program: Program, day: dt.date, outbox: Path, preview_rows: int = PREVIEW_ROWS
) -> ApprovalView:
    """The day's batch as its approver sees it; writes the masked payee preview page. Reads only the warehouse."""
    d = day.isoformat()
    with wh.begin() as conn:
        payments = Warehouse.rows(conn, "day_payments", run_date=d)
        queue = Warehouse.rows(conn, "review_queue", run_date=d, review_threshold_krw=program.review_threshold_krw)
        holds = Warehouse.rows(conn, "current_holds", run_date=d)
        paid_before = int(
            Warehouse.scalar(conn, "payments_total_as_of", as_of=(day - dt.timedelta(days=1)).isoformat())
        )
    facts = facts_of(d, payments)
    by_basis: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for p in payments:
        by_basis[str(p["basis"])][0] += 1
        by_basis[str(p["basis"])][1] += int(p["amount_krw"])
    rows = [_preview_row(p) for p in payments]
    write_payee_preview(outbox, day, rows, facts["batch_sha256"])
    largest = sorted(rows, key=lambda r: (-r["amount_krw"], r["payment_id"]))[:preview_rows]
    return {
        "run_date": d,
        "batch_sha256": facts["batch_sha256"],
        "payments": facts["payments"],
        "control_sum_krw": facts["control_sum_krw"],
        "largest_payment_krw": facts["largest_payment_krw"],
        "by_basis": [{"basis": b, "payments": n, "krw": krw} for b, (n, krw) in sorted(by_basis.items())],
        "review_queue": len(queue),
        "holds": len({h["claimant_key"] for h in holds}),
        "paid_before_krw": paid_before,
        "paid_after_krw": paid_before + facts["control_sum_krw"],
        "preview": largest,
        "links": day_links(outbox, day),
    }


def write_payee_preview(outbox: Path, day: dt.date, rows: list[PreviewRow], batch_sha256: str) -> Path:
    """`reports/DAY/approval/payees.html`: every payment of the batch, accounts masked (0640, atomically)."""
    folder = ensure_dir(Path(outbox) / "reports" / day.isoformat() / "approval")
    body = "\n".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=n>{:,}</td><td>{}</td></tr>".format(
            html.escape(r["payment_id"]),
            html.escape(r["payee_name"]),
            html.escape(r["account_holder"]),
            html.escape(r["bank_code"]),
            html.escape(r["account"]),
            r["amount_krw"],
            html.escape(r["basis"]),
        )
        for r in rows
    )
    total = sum(r["amount_krw"] for r in rows)
    page = (
        f'<!doctype html><html><head><meta charset="utf-8"><title>Payees {day}</title>'
        "<style>body{font-family:system-ui,sans-serif;margin:1.5rem}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2rem .5rem}td.n{text-align:right}</style></head><body>"
        f"<h1>Payment batch {day}: payees (masked)</h1>"
        f"<p>{len(rows):,} payments, {total:,} KRW. Batch SHA-256 <code>{batch_sha256}</code>. Account numbers"
        " show their last four digits only; the account holder's name its first character.</p>"
        "<table><thead><tr><th>payment id</th><th>payee</th><th>account holder</th><th>bank</th><th>account</th>"
        f"<th>KRW</th><th>basis</th></tr></thead><tbody>\n{body}\n</tbody></table></body></html>\n"
    )
    path = folder / "payees.html"
    write_atomic(path, page.encode("utf-8"))
    return path
