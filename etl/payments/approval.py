"""Maker-checker: a day's payment batch reaches the outbox only after someone approves that exact batch.

The approval records the batch's SHA-256 (its payment rows in order), so a batch that changes after
approval (a recompute) needs approving again. A rejection discards the day's computed results:
the ledger is left as it was before the day, and the day must be rerun.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging

from sqlalchemy.engine import Connection

from etl.core.clock import audit_now
from etl.core.config import Program
from etl.core.errors import ReliefError
from etl.io.lock import writer
from etl.io.warehouse import Warehouse
from etl.ledger import audit, days

log = logging.getLogger(__name__)
AUTO_APPROVER = "auto (program config approval.auto_approve_payments)"
NOTHING_TO_APPROVE = "auto (no payments in the batch)"


class AwaitingApproval(ReliefError):
    """The day's batch is computed and validated but nobody has approved it yet."""


def facts_of(run_date: str, payments: list[dict]) -> dict:
    """What an approver sees of a batch: count, control sum, largest payment, and the batch's hash."""
    canonical = json.dumps(
        [[p["payment_id"], p["claimant_key"], p["bank_code"], p["account_no"], int(p["amount_krw"])] for p in payments]
    )
    return {
        "run_date": run_date,
        "payments": len(payments),
        "control_sum_krw": sum(int(p["amount_krw"]) for p in payments),
        "largest_payment_krw": max((int(p["amount_krw"]) for p in payments), default=0),
        "batch_sha256": hashlib.sha256(canonical.encode()).hexdigest(),
    }


def batch_facts(wh: Warehouse, day: dt.date) -> dict:
    """The facts of the day's computed batch, as the warehouse holds it now."""
    with wh.begin() as conn:
        rows = Warehouse.rows(conn, "day_payments", run_date=day.isoformat())
    return facts_of(day.isoformat(), rows)


def _awaiting(day: dt.date, facts: dict) -> AwaitingApproval:
    return AwaitingApproval(
        f"{day}: payment batch awaits approval ({facts['payments']} payments, control sum"
        f" {facts['control_sum_krw']:,} KRW, largest {facts['largest_payment_krw']:,} KRW);"
        " approve it in the Airflow UI, or rerun with `relief run-day --approve`"
    )


def record_decision(wh: Warehouse, day: dt.date, approved: bool, decided_by: str, reason: str = "") -> dict:
    """Record who approved or rejected the batch as it stands now; a rejection discards the day's results.

    A published day's decision is final: asking again returns it unchanged.
    """
    with writer(wh, f"record the decision on {day}'s batch"):
        if days.is_published(wh, day):
            return _published_decision(wh, day)
        facts = batch_facts(wh, day)
        with wh.begin() as conn:
            _decide(conn, day, facts, approved, decided_by, reason)
    log.info(
        "%s payment batch %s by %s: %d payments, %d KRW",
        day,
        "approved" if approved else "REJECTED",
        decided_by,
        facts["payments"],
        facts["control_sum_krw"],
    )
    return {**facts, "decision": "approved" if approved else "rejected", "decided_by": decided_by}


def _decide(conn: Connection, day: dt.date, facts: dict, approved: bool, decided_by: str, reason: str) -> None:
    status = Warehouse.rows(conn, "day_run", run_date=day.isoformat())
    if not status or status[0]["status"] != "computed":
        raise ReliefError(f"{day}: no computed payment batch to decide on")
    event: audit.Event = {
        "event": "batch_approved" if approved else "batch_rejected",
        "amount_krw": facts["control_sum_krw"],
        "detail": f"{facts['payments']} payments, batch sha256 {facts['batch_sha256']}"
        + (f"; reason: {reason}" if reason else ""),
    }
    audit.append(conn, day.isoformat(), str(status[0]["run_id"]), decided_by, [event])
    if not approved:
        # Leave the ledger as it was: the day's payments and business states go; its inputs stay staged.
        Warehouse.run(conn, "reset_day_results", run_date=day.isoformat())
        Warehouse.run(conn, "set_day_status", run_date=day.isoformat(), status="rejected", updated_at=audit_now())
    Warehouse.run(conn, "delete_batch_approval", run_date=day.isoformat())
    Warehouse.run(
        conn,
        "insert_batch_approval",
        run_date=day.isoformat(),
        decision="approved" if approved else "rejected",
        decided_by=decided_by if approved else f"{decided_by}; reason: {reason or '(none given)'}",
        batch_sha256=facts["batch_sha256"],
        payments=facts["payments"],
        control_sum_krw=facts["control_sum_krw"],
        decided_at=audit_now(),
    )


def _published_decision(wh: Warehouse, day: dt.date) -> dict:
    facts = batch_facts(wh, day)
    with wh.begin() as conn:
        rows = Warehouse.rows(conn, "batch_approval", run_date=day.isoformat())
    approval = rows[0] if rows else {"decision": "approved", "decided_by": "?"}
    log.info(
        "%s is published: its batch decision (%s by %s) is final", day, approval["decision"], approval["decided_by"]
    )
    return {**facts, "decision": approval["decision"], "decided_by": approval["decided_by"]}


def approve_automatically(wh: Warehouse, program, day: dt.date) -> dict:
    """Approval without a person: by the program's switch, or because the batch has no payments."""
    if program.auto_approve_payments or days.is_published(wh, day):  # a published day's decision stands
        return record_decision(wh, day, True, AUTO_APPROVER)
    facts = batch_facts(wh, day)
    if facts["payments"] == 0:
        return record_decision(wh, day, True, NOTHING_TO_APPROVE)
    raise _awaiting(day, facts)


class NotAnApprover(ReliefError):
    """Someone not named in the program's approval.approvers answered the approval."""


class BatchRejected(ReliefError):
    """A person rejected the day's batch: nothing was published (the run fails so it shows)."""


def _responder(response: dict | None) -> tuple[str, str]:
    user = (response or {}).get("responded_by_user") or {}
    return str(user.get("name") or "?"), str(user.get("id") or "?")


def record_airflow_approval(wh: Warehouse, program: Program, day: dt.date, response: dict | None) -> dict:
    """An Approve answered in Airflow: recorded only when the person is one of the program's approvers."""
    name, user_id = _responder(response)
    if name not in program.approvers:
        raise NotAnApprover(
            f"{day}: {name} (Airflow user {user_id}) approved the batch but is not one of the program's approvers"
            f" (approval.approvers: {', '.join(program.approvers) or 'none'}): nothing is published. An approver"
            " must answer: clear approve_payment_batch to ask again."
        )
    return record_decision(wh, day, True, f"{name} (Airflow user {user_id})")


def close_rejected_day(wh: Warehouse, day: dt.date, response: dict | None) -> str:
    """After a Reject: record who and why, discard the batch, and fail (BatchRejected) so the run shows it."""
    if days.is_published(wh, day):
        return "published: nothing to discard"
    if "Reject" not in ((response or {}).get("chosen_options") or []):
        return "no rejection: nothing to discard"  # e.g. a settlement day without files, or a failed step
    name, user_id = _responder(response)
    reason = str(((response or {}).get("params_input") or {}).get("reason") or "").strip()
    record_decision(wh, day, False, f"{name} (Airflow user {user_id})", reason)
    raise BatchRejected(
        f"{day}: the payment batch was rejected by {name}: {reason or '(no reason given)'}. Nothing is published"
        " and the ledger is as it was. Clear this run to compute the day again."
    )


def discard_unpublished_batch(wh: Warehouse, day: dt.date, decided_by: str) -> str:
    """The end of a day whose batch was not released: record the rejection and discard the batch."""
    if days.is_published(wh, day):
        return "published: nothing to discard"
    record_decision(wh, day, False, decided_by)
    return "batch rejected and discarded"


def require_approval(wh: Warehouse, day: dt.date, payments: list[dict] | None = None) -> dict:
    """The approval of exactly this batch (the day's payments about to be published), or AwaitingApproval."""
    facts = batch_facts(wh, day) if payments is None else facts_of(day.isoformat(), payments)
    with wh.begin() as conn:
        rows = Warehouse.rows(conn, "batch_approval", run_date=day.isoformat())
    if not rows or rows[0]["decision"] != "approved":
        raise _awaiting(day, facts)
    if rows[0]["batch_sha256"] != facts["batch_sha256"]:
        raise AwaitingApproval(f"{day}: the payment batch changed after it was approved: it must be approved again")
    return rows[0]
