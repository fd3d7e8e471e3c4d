"""Compute a day's payments: each touched business's entitlement, diffed against the ledger.

Applies the day's council decisions and bank results first; the fraud checks hold businesses for
review. Writes the day's business states, holds and payment batch (not yet published) in one
transaction, replacing whatever an earlier run of the same step wrote for the day.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from sqlalchemy.engine import Connection

from etl.claims.delivery import inbox_path, read_optional
from etl.core.clock import audit_now
from etl.core.config import Program
from etl.core.errors import ReliefError
from etl.io.lock import writer
from etl.io.warehouse import Warehouse
from etl.ledger import audit, days
from etl.payments.approval import batch_facts
from etl.payments.decisions import parse_decisions_file, reject
from etl.payments.entitlement import (
    BusinessState,
    Decision,
    PaymentDue,
    business_state,
    group_by_claimant,
    payment_due,
    payment_id,
)
from etl.payments.holds import Hold, fraud_holds
from etl.payments.returns import parse_returns_file

log = logging.getLogger(__name__)


class ComputeResult(TypedDict):
    run_date: str
    replayed: bool  # a published day run again: nothing recomputed, the batch figures as published
    businesses_touched: int
    payments: int
    control_sum_krw: int
    largest_payment_krw: int
    review_pending: int
    held: int
    over_cap: int  # payments computed above the cap and held for a second approval
    decisions_applied: int
    decision_errors: int
    bank_results: int
    bank_result_errors: int


@dataclass
class DayInputs:
    """The day's optional inbox files: council decisions and bank results, and their bad rows."""

    decisions: list[dict] = field(default_factory=list)
    decision_errors: list[dict] = field(default_factory=list)
    returns: list[dict] = field(default_factory=list)
    return_errors: list[dict] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)  # of the files read: the day's recorded inputs

    @classmethod
    def read(cls, inbox: Path, day: dt.date) -> DayInputs:
        hashes = {kind: days.file_sha256(inbox_path(inbox, kind, day)) for kind in ("decisions", "returns")}
        decisions = read_optional(inbox, "decisions", day, parse_decisions_file)
        returns = read_optional(inbox, "returns", day, parse_returns_file)
        return cls(
            hashes=hashes,
            decisions=decisions.decisions if decisions else [],
            decision_errors=list(decisions.errors) if decisions else [],
            returns=returns.results if returns else [],
            return_errors=list(returns.errors) if returns else [],
        )


def _apply_bank_results(conn: Connection, inputs: DayInputs, run_date: str) -> dict[str, dict]:
    """Record the bank's results for payments issued before today; others are errors. Returns those issued."""
    Warehouse.executemany(conn, "insert_payment_return", ({**r, "run_date": run_date} for r in inputs.returns))
    issued = {r["payment_id"]: r for r in Warehouse.rows(conn, "issued_payments", run_date=run_date)}
    unknown = [r for r in inputs.returns if r["payment_id"] not in issued]
    Warehouse.executemany(
        conn, "delete_payment_return", ({"run_date": run_date, "line_no": r["line_no"]} for r in unknown)
    )
    inputs.return_errors += [{**r, "reason": "unknown_payment"} for r in unknown]
    inputs.returns = [r for r in inputs.returns if r["payment_id"] in issued]
    Warehouse.executemany(conn, "insert_return_error", ({**e, "run_date": run_date} for e in inputs.return_errors))
    return issued


def _touched_keys(conn: Connection, run_date: str, extra: set[str]) -> set[str]:
    """The businesses whose entitlement the day recomputes: new claims, moved receipts, decisions, open balances."""
    keys = {r["claimant_key"] for r in Warehouse.rows(conn, "day_business_keys", run_date=run_date)}
    # A re-delivery can move a receipt to another business: the old owner is recomputed too. Staging has marked
    # the day's re-delivered lines (and found them so): only those are looked up again.
    keys |= {
        r["claimant_key"]
        for r in Warehouse.rows(conn, "previous_versions", run_date=run_date, redelivered_only=1)
        if r["claimant_type"] in ("small_business", "enterprise")
    }
    keys |= {r["claimant_key"] for r in Warehouse.rows(conn, "open_balances", run_date=run_date)}
    return keys | extra


def _record_touched(conn: Connection, run_date: str, keys: set[str]) -> None:
    rows = ({"run_date": run_date, "claimant_key": k} for k in sorted(keys))
    Warehouse.executemany(conn, "insert_touched_keys", rows, copy="copy_touched_keys")


@dataclass
class Ledger:
    """What the ledger says of the touched businesses as of the day, before today's payments."""

    claims: dict[str, list[Mapping[str, Any]]]
    holds: dict[str, list[Hold]]  # every reason a business is held for, the first shown in its state
    returned: dict[str, set[tuple[str, str]]]
    paid_before: dict[str, int]
    released: set[tuple[str, int]]  # (business, amount): second approvals of payments above the cap

    @classmethod
    def read(cls, conn: Connection, run_date: str, holds: dict[str, list[Hold]]) -> Ledger:
        claims = group_by_claimant(Warehouse.rows(conn, "business_claims", run_date=run_date))
        # A returned payment does not count as paid, and its bank details are not used again.
        returned_payments = Warehouse.rows(conn, "returned_payments", run_date=run_date)
        returned: dict[str, set[tuple[str, str]]] = {}
        for r in returned_payments:
            returned.setdefault(r["claimant_key"], set()).add((r["bank_code"], r["account_no"]))
        paid = {r["claimant_key"]: int(r["paid_krw"]) for r in Warehouse.rows(conn, "paid_before", run_date=run_date)}
        for r in returned_payments:
            paid[r["claimant_key"]] -= int(r["amount_krw"])
        releases = Warehouse.rows(conn, "cap_releases", run_date=run_date)
        released = {(r["claimant_key"], int(r["amount_krw"])) for r in releases}
        return cls(claims, holds, returned, paid, released)

    def state(self, key: str, decision: Decision | None, program: Program) -> BusinessState:
        hold = self.holds[key][0][0] if self.holds.get(key) else None
        returned = frozenset(self.returned.get(key, ()))
        return business_state(key, self.claims.get(key, []), decision, program, hold=hold, returned_accounts=returned)


def _apply_decisions(conn: Connection, inputs: DayInputs, ledger: Ledger, run_date: str) -> int:
    """Record every decision on a known business, whatever its state today (CONTRACT.md section 2).

    The latest `decided_at` per business stands whenever the business is, or later becomes, over the
    review threshold (or held): a decision that arrives early is kept, not refused.
    """
    applied = []
    for d in inputs.decisions:
        d["refused"] = d["claimant_key"] not in ledger.claims
        if d["refused"]:
            inputs.decision_errors.append(reject(d, "unknown_claimant"))
        else:
            applied.append(d)
    Warehouse.executemany(conn, "insert_decision", ({**d, "run_date": run_date} for d in applied))
    errors = ({**e, "run_date": run_date} for e in inputs.decision_errors)
    Warehouse.executemany(conn, "insert_decision_error", errors)
    return len(applied)


def _state_row(state: BusinessState, run_date: str, paid_after: int) -> dict[str, Any]:
    return {
        "run_date": run_date,
        "claimant_key": state.claimant_key,
        "business_reg_no": state.business_reg_no,
        "claimant_name": state.claimant_name,
        "loss_krw": state.loss_krw,
        "surviving_claims": state.surviving_claims,
        "services": state.services,
        "receipts": state.receipts,
        "status": state.status,
        "entitlement_krw": state.entitlement_krw,
        "paid_krw": paid_after,
        # Owed: entitled but not payable yet. A held business is owed nothing until the council decides.
        "owed_krw": 0 if state.status == "held" else max(state.entitlement_krw - paid_after, 0),
        "has_bank_details": int(state.bank is not None),
    }


@dataclass
class Outcome:
    states: list[dict] = field(default_factory=list)
    holds: list[dict] = field(default_factory=list)
    dues: list[PaymentDue] = field(default_factory=list)
    over_cap: list[dict] = field(default_factory=list)  # computed above the cap, not paid: a person must release


def _settle(conn: Connection, ledger: Ledger, program: Program, run_date: str, previous: dict[str, str]) -> Outcome:
    """Each touched business's state and what it is owed now, given the decisions that stand."""
    standing = {
        r["claimant_key"]: Decision(r["decision"], r["approved_amount_krw"], r["decided_at"])
        for r in Warehouse.rows(conn, "latest_decisions", run_date=run_date)
    }
    out = Outcome()
    # A business with a state before may have no claim left at all (a re-delivery moved its every receipt to
    # another business): it is settled too, to a `no_loss` state.
    for key in sorted(ledger.claims.keys() | previous.keys()):
        state = ledger.state(key, standing.get(key), program)
        if state.surviving_claims == 0 and key not in previous:
            continue  # not a small business with a loss claim: counted and reported, never paid
        # (one that had a state before and lost its last loss claim gets a `no_loss` state: it leaves the
        # review queue and the open balances instead of staying there as it was)
        paid_before = ledger.paid_before.get(key, 0)
        due = payment_due(state, paid_before)
        if due and due.amount_krw > program.max_payment_krw and (key, due.amount_krw) not in ledger.released:
            out.over_cap.append(
                {
                    "run_date": run_date,
                    "claimant_key": key,
                    "business_reg_no": due.business_reg_no,
                    "amount_krw": due.amount_krw,
                    "cap_krw": program.max_payment_krw,
                    "basis": due.basis,
                }
            )
            due = None  # owed, not paid: `relief release` records the second approval, the next day pays it
        out.states.append(_state_row(state, run_date, paid_before + (due.amount_krw if due else 0)))
        if state.status == "held":
            out.holds.extend(
                {"run_date": run_date, "claimant_key": key, "reason": reason, "detail": detail}
                for reason, detail in ledger.holds[key]
            )
        if due:
            out.dues.append(due)
    return out


def _number_payments(dues: list[PaymentDue], program: Program, day: dt.date) -> list[dict]:
    """Payment ids by the rank of the business's key among the day's payments: deterministic.

    A due's fields are scalars: `vars` is `asdict` without its deep copy (which cost seconds a day at scale)."""
    compact = f"{day:%Y%m%d}"
    ordered = sorted(dues, key=lambda d: d.claimant_key)
    return [
        {**vars(due), "payment_id": payment_id(program.payment_prefix, compact, i), "run_date": day.isoformat()}
        for i, due in enumerate(ordered, start=1)
    ]


def _require_staged(conn: Connection, run_date: str) -> str:
    """The run id that staged the day (its events are recorded under it)."""
    status = Warehouse.rows(conn, "day_run", run_date=run_date)
    if not status or status[0]["status"] not in ("staged", "computed", "rejected"):
        raise ReliefError(f"{run_date} has not been staged: run the stage step first")
    return str(status[0]["run_id"])


def _events(
    inputs: DayInputs, issued: dict[str, dict], previous: dict[str, str], outcome: Outcome, payments: list[dict]
) -> list[audit.Event]:
    """The day's ledger events: bank results, decisions, holds placed or released, payments computed."""
    events: list[audit.Event] = []
    for r in inputs.returns:
        p = issued[r["payment_id"]]
        events.append(
            {
                "event": f"payment_{r['status']}",
                "claimant_key": p["claimant_key"],
                "payment_id": r["payment_id"],
                "amount_krw": int(p["amount_krw"]),
                "detail": r["reason"],
            }
        )
    for d in inputs.decisions:
        if not d.get("refused"):
            events.append(
                {
                    "event": "decision_applied",
                    "claimant_key": d["claimant_key"],
                    "amount_krw": d["approved_amount_krw"],
                    "detail": f"{d['decision']} by {d['decided_by']}",
                }
            )
    for e in inputs.decision_errors:
        events.append({"event": "decision_refused", "claimant_key": e["claimant_key"] or None, "detail": e["reason"]})
    for s in outcome.states:
        was_held, held = previous.get(s["claimant_key"]) == "held", s["status"] == "held"
        if held != was_held:
            events.append({"event": "hold_placed" if held else "hold_released", "claimant_key": s["claimant_key"]})
    for o in outcome.over_cap:
        events.append(
            {
                "event": "payment_over_cap",
                "claimant_key": o["claimant_key"],
                "amount_krw": o["amount_krw"],
                "detail": f"above the cap of {o['cap_krw']:,} KRW: awaits a second approval (relief release)",
            }
        )
    for pay in payments:
        events.append(
            {
                "event": "payment_computed",
                "claimant_key": pay["claimant_key"],
                "payment_id": pay["payment_id"],
                "amount_krw": pay["amount_krw"],
                "detail": pay["basis"],
            }
        )
    return events  # fmt: skip


def _replayed_result(wh: Warehouse, day: dt.date) -> ComputeResult:
    facts = batch_facts(wh, day)
    log.info("%s is published and its inputs are unchanged: nothing to compute again", day)
    return {
        "run_date": day.isoformat(),
        "replayed": True,
        "businesses_touched": 0,
        "payments": facts["payments"],
        "control_sum_krw": facts["control_sum_krw"],
        "largest_payment_krw": facts["largest_payment_krw"],
        "review_pending": 0,
        "held": 0,
        "over_cap": 0,
        "decisions_applied": 0,
        "decision_errors": 0,
        "bank_results": 0,
        "bank_result_errors": 0,
    }


def compute_day(
    wh: Warehouse, inbox: Path, program: Program, day: dt.date, gate: Callable[[], None] | None = None
) -> ComputeResult:
    """Each touched business's entitlement, diffed against the ledger: the day's payments (not yet published).

    `gate`, if given, is called last, before the day's results are committed: if it raises, nothing is kept
    (`relief run-day` waits there for the claims validation it ran beside compute).
    """
    with writer(wh, f"compute {day}"):
        if days.admit(wh, inbox, program, day):
            return _replayed_result(wh, day)
        return _compute(wh, inbox, program, day, gate)


def _compute(
    wh: Warehouse, inbox: Path, program: Program, day: dt.date, gate: Callable[[], None] | None
) -> ComputeResult:
    run_date = day.isoformat()
    inputs = DayInputs.read(inbox, day)
    with wh.begin() as conn:
        run_id = _require_staged(conn, run_date)
        Warehouse.run(conn, "reset_day_results", run_date=run_date)
        Warehouse.run(conn, "delete_finance_snapshot", run_date=run_date)  # grouped from the results cleared above
        days.record_inputs(conn, run_date, inputs.hashes)
        issued = _apply_bank_results(conn, inputs, run_date)
        extra = {d["claimant_key"] for d in inputs.decisions} | {p["claimant_key"] for p in issued.values()}
        keys = _touched_keys(conn, run_date, extra)
        _record_touched(conn, run_date, keys)
        Warehouse.analyze(conn, "analyze_touched_keys")
        holds = fraud_holds(conn, program, run_date)
        _record_touched(conn, run_date, set(holds) - keys)
        keys |= set(holds)
        previous = {r["claimant_key"]: r["status"] for r in Warehouse.rows(conn, "previous_states", run_date=run_date)}
        ledger = Ledger.read(conn, run_date, holds)
        applied = _apply_decisions(conn, inputs, ledger, run_date)
        outcome = _settle(conn, ledger, program, run_date, previous)
        payments = _number_payments(outcome.dues, program, day)
        Warehouse.executemany(conn, "insert_business_state", outcome.states, copy="copy_business_state")
        Warehouse.executemany(conn, "insert_hold", outcome.holds)
        Warehouse.executemany(conn, "insert_over_cap", outcome.over_cap)
        Warehouse.executemany(conn, "insert_payment", payments, copy="copy_payments")
        audit.append(conn, run_date, run_id, "relief compute", _events(inputs, issued, previous, outcome, payments))
        if gate is not None:
            gate()
        Warehouse.run(conn, "set_day_status", run_date=run_date, status="computed", updated_at=audit_now())
    result: ComputeResult = {
        "run_date": run_date,
        "replayed": False,
        "businesses_touched": len(keys),
        "payments": len(payments),
        "control_sum_krw": sum(p["amount_krw"] for p in payments),
        "largest_payment_krw": max((p["amount_krw"] for p in payments), default=0),
        "review_pending": sum(1 for s in outcome.states if s["status"] == "review_pending"),
        "held": len({h["claimant_key"] for h in outcome.holds}),
        "over_cap": len(outcome.over_cap),
        "decisions_applied": applied,
        "decision_errors": len(inputs.decision_errors),
        "bank_results": len(inputs.returns),
        "bank_result_errors": len(inputs.return_errors),
    }
    log.info("computed %s: %s", run_date, result)
    return result
