"""Publish a day: write its outbox folders (each manifest last) and mark the day published.

Only an approved batch (maker-checker) whose audits passed is published. The payment batch folder
is written last, after exclusions, quarantine, reviews and the reports.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any, TypedDict

from etl.claims.counts import add_counts, empty_counts
from etl.claims.parse import REASONS
from etl.core import contract as c
from etl.core.clock import KST, audit_now, to_kst
from etl.core.config import Program
from etl.core.errors import ReliefError, ValidationFailed
from etl.io import outbox
from etl.io.lock import writer
from etl.io.warehouse import Warehouse
from etl.ledger import audit
from etl.payments.approval import require_approval
from etl.payments.returns import reconcile

log = logging.getLogger(__name__)
SUITES = ("claims_staged", "payments_batch")
PROOF_REQUIRED = "proof of revenue loss over the review threshold (sales records before and after 2022-10-15)"


class PublishResult(TypedDict):
    run_date: str
    payments: int
    control_sum_krw: int
    review_queue: int
    quarantined: int


def _bool(value: Any) -> str:
    return "true" if value else "false"


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
        read["reconciliation"] = reconcile(Warehouse.rows(conn, "reconciliation", run_date=run_date), run_date)
    read["status"], read["run_id"] = status[0]["status"], status[0]["run_id"]
    read["previous_day"] = previous[0]["run_date"] if previous else None
    read["day_counts"] = json.loads(status[0]["day_counts"])
    read["base_counts"] = json.loads(previous[0]["cumulative_counts"]) if previous else empty_counts()
    return read


def _write_exclusions(root: Path, header: dict, rows: list[dict]) -> None:
    folder = outbox.begin_folder(root / c.EXCLUSIONS / header["run_date"])
    f = outbox.write_csv(
        folder,
        c.AFFILIATE_CSV,
        c.AFFILIATE_COLUMNS,
        (
            [r["operator"], r["service"], r["receipt_no"], to_kst(r["received_at"]), r["channel"],
             r["claimant_type"], r["claimant_key"], r["claimant_name"], _bool(r["paid_service"]),
             _bool(r["monetary_loss"]), r["claimed_loss_krw"], r["description"]]
            for r in rows
        ),
    )  # fmt: skip
    by_operator = dict(sorted(Counter(r["operator"] for r in rows).items()))
    outbox.finish_folder(folder, [f], {**header, "rows": f.rows, "by_operator": by_operator})


def _write_quarantine(root: Path, header: dict, rows: list[dict]) -> None:
    folder = outbox.begin_folder(root / c.QUARANTINE / header["run_date"])
    f = outbox.write_csv(
        folder,
        c.REJECTED_CSV,
        c.REJECTED_COLUMNS,
        ([q["source_file"], q["line_no"], q["reason"], q["detail"], q["raw"]] for q in rows),
    )
    by_reason = dict(sorted(Counter(q["reason"] for q in rows).items()))
    outbox.finish_folder(folder, [f], {**header, "rows": f.rows, "by_reason": by_reason, "reasons": REASONS})


def _write_reviews(root: Path, header: dict, read: dict[str, Any]) -> None:
    folder = outbox.begin_folder(root / c.REVIEWS / header["run_date"])
    f_queue = outbox.write_csv(
        folder,
        c.REVIEW_QUEUE_CSV,
        c.REVIEW_QUEUE_COLUMNS,
        (
            [q["claimant_key"], q["business_reg_no"], q["claimant_name"], q["loss_krw"], q["surviving_claims"],
             q["services"], q["receipts"], q["paid_krw"], _bool(q["has_bank_details"]), q["pending_since"],
             PROOF_REQUIRED, q["hold_reason"]]
            for q in read["queue"]
        ),
    )  # fmt: skip
    f_err = outbox.write_csv(
        folder,
        c.DECISION_ERRORS_CSV,
        c.DECISION_ERROR_COLUMNS,
        ([e["line_no"], e["claimant_key"], e["reason"], e["detail"], e["raw"]] for e in read["decision_errors"]),
    )
    f_holds = outbox.write_csv(
        folder,
        c.HOLDS_CSV,
        c.HOLDS_COLUMNS,
        (
            [h["claimant_key"], h["business_reg_no"], h["claimant_name"], h["reason"], h["detail"], h["loss_krw"],
             h["entitlement_krw"], h["paid_krw"], h["held_on"]]
            for h in read["held"]
        ),
    )  # fmt: skip
    f_cap = outbox.write_csv(
        folder,
        c.OVER_CAP_CSV,
        c.OVER_CAP_COLUMNS,
        ([o["claimant_key"], o["business_reg_no"], o["amount_krw"], o["cap_krw"], o["basis"],
          f"relief release {o['claimant_key']} {o['amount_krw']} --by NAME --reason TEXT"] for o in read["over_cap"]),
    )  # fmt: skip
    manifest = {**header, "rows": f_queue.rows, "holds": f_holds.rows, "over_cap": f_cap.rows}
    outbox.finish_folder(folder, [f_queue, f_err, f_holds, f_cap], manifest)


def _write_reports(root: Path, header: dict, summary: dict, read: dict[str, Any]) -> None:
    folder = outbox.begin_folder(root / c.REPORTS / header["run_date"])
    f = outbox.write_json(folder, c.SUMMARY_JSON, summary)
    f_rec = outbox.write_json(folder, c.RECONCILIATION_JSON, {**header, **read["reconciliation"]})
    f_ret = outbox.write_csv(
        folder,
        c.RETURN_ERRORS_CSV,
        c.RETURN_ERROR_COLUMNS,
        ([e["line_no"], e["payment_id"], e["reason"], e["raw"]] for e in read["return_errors"]),
    )
    outbox.finish_folder(folder, [f, f_rec, f_ret], header)


def _write_pain001(folder: Path, program: Program, day: dt.date, payments: list[dict]) -> outbox.WrittenFile:
    """The bank's file beside payments.csv; its creation time is fixed to the run day so reruns match."""
    from etl.payments.iso20022 import FILE_NAME, build_pain001  # xmlschema & ElementTree: publish only

    data = build_pain001(
        payments,
        run_date=day,
        message_id=f"{program.payment_prefix}-{day:%Y%m%d}",
        created_at=dt.datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=KST),
        debtor=program.debtor,
    )
    outbox.write_atomic(folder / FILE_NAME, data)
    return outbox.WrittenFile(FILE_NAME, len(payments), hashlib.sha256(data).hexdigest(), len(data))


def _write_payments(
    root: Path, header: dict, program: Program, day: dt.date, payments: list[dict], approval: dict
) -> int:
    folder = outbox.begin_folder(root / c.PAYMENTS / header["run_date"])
    cols = c.PAYMENT_COLUMNS
    f = outbox.write_csv(folder, c.PAYMENTS_CSV, cols, ([p[col] for col in cols] for p in payments))
    files = [f]
    if payments:  # a pain.001 needs at least one transaction: a day without payments has none
        files.append(_write_pain001(folder, program, day, payments))
    control_sum = sum(int(p["amount_krw"]) for p in payments)
    manifest = {
        **header,
        "rows": f.rows,
        "control_sum_krw": control_sum,
        "largest_payment_krw": max((int(p["amount_krw"]) for p in payments), default=0),
        "sha256": f.sha256,
        "currency": "KRW",
        "approved_by": approval["decided_by"],
        "approved_at": approval["decided_at"],
    }
    outbox.finish_folder(folder, files, manifest)
    return control_sum


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


def _write_day_manifest(root: Path, header: dict, read: dict[str, Any]) -> None:
    """The day is complete when this is there: every folder's manifest, by its SHA-256, and the totals."""
    run_date = header["run_date"]
    folders = {}
    for kind in (c.EXCLUSIONS, c.QUARANTINE, c.REVIEWS, c.PAYMENTS, c.REPORTS):
        manifest = root / kind / run_date / c.MANIFEST
        folders[f"{kind}/{run_date}/{c.MANIFEST}"] = {"sha256": outbox.sha256_file(manifest)}
    rec = read["reconciliation"]
    # "files" is empty (the folder holds only this manifest); "folders" names the day's other manifests.
    doc = {**header, "files": {}, "folders": folders, "day": rec["day"], "cumulative": rec["cumulative"]}
    folder = outbox.begin_folder(root / c.DAYS / run_date)
    outbox.write_json(folder, c.MANIFEST, doc)


def publish_day(
    wh: Warehouse, root: Path, program: Program, day: dt.date, run_id: str, require_validation: bool = True
) -> PublishResult:
    """Write the day's outbox folders (each manifest last, the day manifest after them) and mark it published.

    A published day publishes again only as it was (its recorded run id, the same bytes).
    """
    with writer(wh, f"publish {day} ({run_id})"):
        read = _read_day(wh, program, day, require_validation)
        replay = read["status"] == "published"
        run_id = read["run_id"] if replay else run_id
        approval = require_approval(wh, day, read["payments"])
        header = {"program": program.code, "run_date": day.isoformat(), "run_id": run_id,
                  "config_sha256": program.sha256}  # fmt: skip
        summary = _summary(header, program, read)
        _check_reconciliation(root, day, read)
        _write_exclusions(root, header, read["exclusions"])
        _write_quarantine(root, header, read["quarantined"])
        _write_reviews(root, header, read)
        control_sum = _write_payments(root, header, program, day, read["payments"], approval)
        _write_reports(root, header, summary, read)
        _write_day_manifest(root, header, read)
        if not replay:
            _mark_published(wh, day, run_id, summary, read["payments"])
    log.info("published %s: %d payments, %d KRW%s", day, len(read["payments"]), control_sum,
             " (a rerun of a published day: the same files)" if replay else "")  # fmt: skip
    return {
        "run_date": day.isoformat(),
        "payments": len(read["payments"]),
        "control_sum_krw": control_sum,
        "review_queue": len(read["queue"]),
        "quarantined": summary["day"]["quarantined"],
    }


def _mark_published(wh: Warehouse, day: dt.date, run_id: str, summary: dict[str, Any], payments: list[dict]) -> None:
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
