"""Publish a day: check the ledger against the published files, write the day's outbox folders (each
manifest sealed and last, the day manifest after them), and mark the day published.

Only an approved batch (maker-checker) whose audits passed is published. The folders are written by
`etl/payments/folders.py`; this module decides whether and what.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

from etl.claims.counts import add_counts, empty_counts
from etl.core import contract as c
from etl.core.clock import audit_now
from etl.core.config import Program
from etl.core.errors import ReliefError, ValidationFailed
from etl.io.lock import writer
from etl.io.warehouse import Warehouse
from etl.ledger import audit
from etl.ledger.reconciliation import reconcile
from etl.payments import folders, seal
from etl.payments.approval import require_approval
from etl.reports.finance import FinanceReport, build_finance_files
from etl.reports.finance import snapshot as finance_snapshot

log = logging.getLogger(__name__)
SUITES = ("claims_staged", "payments_batch")


class PublishResult(TypedDict):
    run_date: str
    payments: int
    control_sum_krw: int
    review_queue: int
    quarantined: int


def _read_day(wh: Warehouse, program: Program, day: dt.date, require_validation: bool) -> dict[str, Any]:
    """Everything the day's folders show, read in one transaction."""
    run_date = day.isoformat()
    with wh.begin() as conn:
        status = Warehouse.rows(conn, "day_run", run_date=run_date)
        if not status or status[0]["status"] not in ("computed", "published"):
            raise ReliefError(f"{run_date} has not been computed: nothing to publish")
        if require_validation:
            results = {r["suite"]: r for r in Warehouse.rows(conn, "validation_results", run_date=run_date)}
            failed = [s for s in SUITES if not (s in results and results[s]["success"])]
            if failed:
                raise ValidationFailed(f"{run_date}: suite(s) {', '.join(failed)} not passed: nothing published")
        previous = Warehouse.rows(conn, "latest_day_run", as_of=(day - dt.timedelta(days=1)).isoformat())
        read: dict[str, Any] = {
            name: Warehouse.rows(conn, query, run_date=run_date, review_threshold_krw=program.review_threshold_krw)
            for name, query in (
                ("payments", "day_payments"),
                ("exclusions", "day_exclusions"),
                ("quarantined", "day_quarantine"),
                ("queue", "review_queue"),
                ("decision_errors", "day_decision_errors"),
                ("held", "current_holds"),
                ("return_errors", "day_return_errors"),
                ("over_cap", "day_over_cap"),
            )
        }
        read["awaiting"] = Warehouse.rows(conn, "awaiting_bank_details", run_date=run_date)[0]
        read["payment_groups"] = Warehouse.rows(conn, "payment_groups", as_of=run_date)
        read["reconciliation"] = reconcile(read["payment_groups"], run_date)
        read["finance_groups"] = finance_snapshot.compute(conn, day)  # raises before any folder is written
    read["status"], read["run_id"] = status[0]["status"], status[0]["run_id"]
    read["previous_day"] = previous[0]["run_date"] if previous else None
    read["day_counts"] = json.loads(status[0]["day_counts"])
    read["base_counts"] = json.loads(previous[0]["cumulative_counts"]) if previous else empty_counts()
    return read


def _money(part: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Issued, returned and net (issued less returned), count and KRW; `payments`/`paid_krw` are the net."""
    issued, returned = part["issued"], part["returned"]
    net = {"count": issued["count"] - returned["count"], "krw": issued["krw"] - returned["krw"]}
    return {"payments": net["count"], "paid_krw": net["krw"], "issued": issued, "returned": returned, "net": net}


def _summary(header: dict, program: Program, read: dict[str, Any]) -> dict[str, Any]:
    """The day's counts and the cumulative ones; money from the reconciliation, so the two always agree."""
    rec = read["reconciliation"]
    day_counts = {**read["day_counts"], **_money(rec["day"])}
    cumulative = {**add_counts(read["base_counts"], read["day_counts"]), **_money(rec["cumulative"])}
    return {
        **header,
        "day": day_counts,
        "cumulative": cumulative,
        "open": {
            "review_queue": len(read["queue"]),
            "held_for_review": len({h["claimant_key"] for h in read["held"]}),
            "awaiting_bank_details": int(read["awaiting"]["businesses"]),
            "awaiting_bank_details_krw": int(read["awaiting"]["owed_krw"]),
            "over_cap_awaiting_release": len(read["over_cap"]),
            "over_cap_awaiting_release_krw": sum(int(o["amount_krw"]) for o in read["over_cap"]),
        },
        "reference": program.reference_claims,
    }


def _files_issued(root: Path, read: dict[str, Any]) -> dict[str, int]:
    """Issued payments to date as the published files tell it: the day before's day manifest plus this batch."""
    issued = {"count": 0, "krw": 0}
    if read["previous_day"]:
        path = root / c.DAYS / read["previous_day"] / c.MANIFEST
        if not path.is_file():
            raise ReliefError(
                f"cannot reconcile: {path} is missing, so the published days' totals cannot be checked. Restore"
                f" it, or rerun {read['previous_day']} (a rerun of a published day rewrites its files byte for byte)."
            )
        issued = dict(json.loads(path.read_text(encoding="utf-8"))["cumulative"]["issued"])
    issued["count"] += len(read["payments"])
    issued["krw"] += sum(int(p["amount_krw"]) for p in read["payments"])
    return issued


def _check_reconciliation(root: Path, day: dt.date, read: dict[str, Any]) -> None:
    """The ledger against the published files, before anything of the day is written: they must agree."""
    rec = read["reconciliation"]
    if not rec["balanced"]:
        raise ReliefError(f"{day}: the reconciliation does not balance: {rec['cumulative']}")
    ledger, files = rec["cumulative"]["issued"], _files_issued(root, read)
    if ledger != files:
        raise ReliefError(
            f"{day}: the ledger and the published files disagree on the payments issued to date: ledger"
            f" {ledger['count']} payments / {ledger['krw']:,} KRW, published files plus this batch {files['count']}"
            f" / {files['krw']:,} KRW. Nothing of the day is published; find what changed the ledger or the outbox."
        )


def publish_day(
    wh: Warehouse,
    root: Path,
    program: Program,
    day: dt.date,
    run_id: str,
    require_validation: bool = True,
    charts: Callable[[FinanceReport], dict[str, bytes]] | None = None,
) -> PublishResult:
    """Write the day's outbox folders (each manifest last, the day manifest after them) and mark it published.

    A published day publishes again only as it was (its recorded run id, the same bytes). `charts` draws the
    finance report's charts (default: here, with matplotlib; `relief run-day` passes its sidecar's).
    """
    with writer(wh, f"publish {day} ({run_id})"):
        read = _read_day(wh, program, day, require_validation)
        replay = read["status"] == "published"
        run_id = read["run_id"] if replay else run_id
        key = seal.key_for_publish()  # fails closed before anything is written: no key, no publish
        approval = require_approval(wh, day, read["payments"])
        header = {"program": program.code, "run_date": day.isoformat(), "run_id": run_id,
                  "config_sha256": program.sha256}  # fmt: skip
        summary = _summary(header, program, read)
        _check_reconciliation(root, day, read)
        folders.write_exclusions(root, day, key, header, read["exclusions"])
        folders.write_quarantine(root, day, key, header, read["quarantined"])
        folders.write_reviews(root, day, key, header, read)
        control_sum = folders.write_payments(root, day, key, header, program, read["payments"], approval)
        folders.write_reports(root, day, key, header, summary, read)
        folders.write_day_manifest(root, day, key, header, read)
        if not replay:
            _mark_published(wh, day, run_id, summary, read["payments"], read["finance_groups"])
        # The finance report reads published days only: written after the day is marked published.
        # It reuses what _read_day read (the same rows: this writer has held the warehouse since).
        known = {"payment_groups": read["payment_groups"], "review_queue": read["queue"],
                 "current_holds": read["held"], "awaiting_bank_details": [read["awaiting"]]}  # fmt: skip
        folders.write_finance(root, day, key, header, build_finance_files(wh, program, day, charts, known))
    log.info("published %s: %d payments, %d KRW%s", day, len(read["payments"]), control_sum,
             " (a rerun of a published day: the same files)" if replay else "")  # fmt: skip
    return {
        "run_date": day.isoformat(),
        "payments": len(read["payments"]),
        "control_sum_krw": control_sum,
        "review_queue": len(read["queue"]),
        "quarantined": summary["day"]["quarantined"],
    }


def _mark_published(
    wh: Warehouse,
    day: dt.date,
    run_id: str,
    summary: dict[str, Any],
    payments: list[dict],
    finance_groups: finance_snapshot.Groups | None,
) -> None:
    events: list[audit.Event] = [
        {"event": "payment_published", "claimant_key": p["claimant_key"], "payment_id": p["payment_id"],
         "amount_krw": int(p["amount_krw"]), "detail": p["basis"]}
        for p in payments
    ]  # fmt: skip
    with wh.begin() as conn:
        Warehouse.run(
            conn,
            "set_day_cumulative",
            run_date=day.isoformat(),
            status="published",
            day_counts=json.dumps(summary["day"]),
            cumulative_counts=json.dumps(summary["cumulative"]),
            updated_at=audit_now(),
        )
        audit.append(conn, day.isoformat(), run_id, "relief publish", events)
        finance_snapshot.save(conn, finance_groups)  # the finance report's groups as of this day, kept for the next
