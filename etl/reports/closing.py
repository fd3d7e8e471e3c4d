"""`relief close`: the program's closing report, reconciled to the ledger, and the end of all payment.

Reports received (PROGRAM.md's table); businesses and net KRW by status and entitlement; payments and net
KRW by basis; the council's decisions by outcome; what is still open (reviews, holds, payments above the
cap, businesses awaiting bank details, returned payments not paid again). The totals must agree with the
ledger's reconciliation, or nothing is written. After the close no day computes or pays again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from etl.core import contract as c
from etl.core.clock import audit_now
from etl.core.config import Program
from etl.core.errors import ReliefError
from etl.io import outbox
from etl.io.lock import writer
from etl.io.warehouse import Warehouse
from etl.ledger.reconciliation import reconcile

log = logging.getLogger(__name__)
CLOSE = "close"


def _gather(conn: Any, program: Program, as_of: str) -> dict[str, Any]:
    def rows(name: str, **extra: Any) -> list[dict[str, Any]]:
        return Warehouse.rows(conn, name, as_of=as_of, run_date=as_of, **extra)

    latest = Warehouse.rows(conn, "latest_day_run", as_of=as_of)
    if not latest:
        raise ReliefError(f"cannot close: no day is published on or before {as_of}")
    by_status: dict[str, dict[str, int]] = {}
    for s in rows("close_latest_states"):
        key = f"{s['status']}:{int(s['entitlement_krw'])}"
        b = by_status.setdefault(key, {"businesses": 0, "paid_krw": 0, "owed_krw": 0})
        b["businesses"] += 1
        b["paid_krw"] += int(s["paid_krw"])
        b["owed_krw"] += int(s["owed_krw"])
    return {
        "last_published_day": latest[0]["run_date"],
        "reports": json.loads(latest[0]["cumulative_counts"]),
        "businesses_by_status_and_entitlement": dict(sorted(by_status.items())),
        "payments_by_basis": rows("close_paid_by_basis"),
        "decisions_by_outcome": rows("close_decisions"),
        "open": {
            "review_queue": len(rows("review_queue", review_threshold_krw=program.review_threshold_krw)),
            "holds": len({h["claimant_key"] for h in rows("current_holds")}),
            "awaiting_bank_details": rows("awaiting_bank_details")[0],
        },
        "reconciliation": reconcile(rows("payment_groups"), as_of),
    }


def _check(found: dict[str, Any]) -> dict[str, int]:
    """Net KRW three ways (by basis, by business, the reconciliation): they must agree to the won."""
    rec = found["reconciliation"]["cumulative"]
    net = rec["issued"]["krw"] - rec["returned"]["krw"]
    by_basis = sum(int(b["issued_krw"]) - int(b["returned_krw"]) for b in found["payments_by_basis"])
    by_business = sum(b["paid_krw"] for b in found["businesses_by_status_and_entitlement"].values())
    if not found["reconciliation"]["balanced"] or len({net, by_basis, by_business}) != 1:
        raise ReliefError(
            f"cannot close: the totals disagree (net paid: reconciliation {net:,}, by basis {by_basis:,},"
            f" by business {by_business:,} KRW); nothing written"
        )
    return {"net_paid_krw": net, "issued_krw": rec["issued"]["krw"], "returned_krw": rec["returned"]["krw"]}


def _markdown(doc: dict[str, Any]) -> str:
    lines = [f"# {doc['program']}: closing report, {doc['closed_on']}", "",
             f"Net paid to small businesses: **{doc['totals']['net_paid_krw']:,} KRW** (issued"
             f" {doc['totals']['issued_krw']:,}, returned {doc['totals']['returned_krw']:,}).", "",
             "| basis | issued | KRW | returned | KRW |", "|---|---:|---:|---:|---:|"]  # fmt: skip
    for b in doc["payments_by_basis"]:
        lines.append(f"| {b['basis']} | {b['issued']:,} | {int(b['issued_krw']):,} | {b['returned']:,} |"
                     f" {int(b['returned_krw']):,} |")  # fmt: skip
    lines += ["", "| decision | businesses | approved KRW |", "|---|---:|---:|"]
    lines += [f"| {d['decision']} | {d['businesses']:,} | {int(d['approved_krw']):,} |"
              for d in doc["decisions_by_outcome"]]  # fmt: skip
    lines += ["", f"Open at the close: {json.dumps(doc['open'], ensure_ascii=False)}", ""]
    return "\n".join(lines)


def close_program(wh: Warehouse, root: Path, program: Program, closed_on: dt.date, closed_by: str) -> dict[str, Any]:
    """Write reports/close/DAY/ (closing.json, closing.md, manifest last) and close the program."""
    as_of = closed_on.isoformat()
    with writer(wh, f"close {program.code}"):
        with wh.begin() as conn:
            already = Warehouse.rows(conn, "program_close", program=program.code)
            if already and already[0]["closed_on"] != as_of:
                raise ReliefError(f"{program.code} was already closed on {already[0]['closed_on']}")
            unpublished = [r["run_date"] for r in Warehouse.rows(conn, "day_runs_before", run_date="9999-12-31")
                           if r["status"] != "published" and r["run_date"] <= as_of]  # fmt: skip
            if unpublished:
                raise ReliefError(f"cannot close: day(s) {', '.join(unpublished)} ran but are not published")
            found = _gather(conn, program, as_of)
            closed_at = already[0]["closed_at"] if already else audit_now()
        doc = {"program": program.code, "closed_on": as_of, "closed_by": closed_by, "closed_at": closed_at,
               "config_sha256": program.sha256, "totals": _check(found), **found}  # fmt: skip
        folder = outbox.begin_folder(root / c.REPORTS / CLOSE / as_of)
        f_json = outbox.write_json(folder, "closing.json", doc)
        data = _markdown(doc).encode("utf-8")
        outbox.write_atomic(folder / "closing.md", data)
        f_md = outbox.WrittenFile("closing.md", 1, hashlib.sha256(data).hexdigest(), len(data))
        header = {k: doc[k] for k in ("program", "closed_on", "closed_by", "config_sha256")}
        outbox.finish_folder(folder, [f_json, f_md], header)
        if not already:
            with wh.begin() as conn:
                Warehouse.run(conn, "insert_program_close", program=program.code, closed_on=as_of,
                              closed_by=closed_by, closed_at=closed_at)  # fmt: skip
    log.info("closed %s on %s: net paid %s KRW", program.code, as_of, f"{doc['totals']['net_paid_krw']:,}")
    return {"folder": str(folder), **doc["totals"]}


def close_on_schedule(wh: Warehouse, root: Path, program: Program, day: dt.date) -> dict[str, Any]:
    """claims_daily's last task: closes the program on its close date, does nothing on any other day."""
    if day != program.close_date:
        return {"closed": False, "close_date": program.close_date.isoformat()}
    return {"closed": True, **close_program(wh, root, program, day, "claims_daily (scheduled close)")}
