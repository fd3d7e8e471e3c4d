"""The daily claims pipeline: stage, compute, publish. The DAG's tasks and `relief run-day` call these.

Each step is idempotent for its day: it deletes the day's partitions and rewrites them in one
transaction. A day sees the claims received up to that day and the payments made before it,
so rerunning any day reproduces its files. A day's cost follows that day's rows: re-deliveries,
businesses and counts are looked up by key, never by scanning all history.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import time
from collections import Counter
from pathlib import Path

from etl.io import outbox
from etl.claims.parse import CLAIMANT_TYPES, REASONS, damage_category, load_services, parse_claims_file
from etl.core.config import Program
from etl.io.csvfile import MalformedFileError
from etl.payments.decisions import parse_decisions_file, reject
from etl.payments.returns import parse_returns_file, reconcile
from etl.payments.entitlement import Decision, business_state, group_by_claimant, payment_due, payment_id
from etl.core.errors import InboxFileError, MissingDelivery, OutOfOrderRun, ReliefError, ValidationFailed
from etl.core.settings import Settings
from etl.io.warehouse import Warehouse

log = logging.getLogger(__name__)
KST = dt.timezone(dt.timedelta(hours=9))
DAMAGE = ("paid_service", "free_monetary", "non_monetary")
PAYMENT_COLUMNS = [
    "payment_id", "claimant_key", "business_reg_no", "payee_name", "bank_code", "account_no",
    "account_holder", "amount_krw", "basis", "run_date",
]
_CLAIMS_FILE = re.compile(r"^claims_(\d{8})\.csv$")


# ---------------------------------------------------------------------------------------------
# counts


def empty_counts() -> dict:
    return {
        "rows_received": 0,
        "accepted": 0,
        "duplicates": 0,
        "excluded": 0,
        "quarantined": 0,
        "reports_received": 0,
        "reports_kakao": 0,
        "reports_affiliate": 0,
        "by_claimant_type": {t: 0 for t in CLAIMANT_TYPES},
        "by_damage": {d: 0 for d in DAMAGE},
        "quarantined_by_reason": {},
        "payments": 0,
        "paid_krw": 0,
    }


def add_counts(total: dict, day: dict) -> dict:
    """Cumulative counts: the earlier total plus a day's counts, field by field."""
    out = json.loads(json.dumps(total))
    for key, value in day.items():
        if isinstance(value, dict):
            for sub, n in value.items():
                out.setdefault(key, {})
                out[key][sub] = out[key].get(sub, 0) + n
        else:
            out[key] = out.get(key, 0) + value
    return out


def _report_delta(counts: dict, row: dict, sign: int) -> None:
    """Add (or take away) one report's place in the PROGRAM.md table."""
    if row["kakao_corp"]:
        counts["reports_kakao"] += sign
        counts["by_claimant_type"][row["claimant_type"]] += sign
        counts["by_damage"][damage_category(row)] += sign
    else:
        counts["reports_affiliate"] += sign


def check_reconciles(counts: dict, where: str) -> None:
    """received = accepted + duplicates + excluded + quarantined, or the run stops."""
    parts = counts["accepted"] + counts["duplicates"] + counts["excluded"] + counts["quarantined"]
    if counts["rows_received"] != parts:
        raise ReliefError(
            f"{where}: counts do not reconcile: received {counts['rows_received']} != accepted {counts['accepted']}"
            f" + duplicates {counts['duplicates']} + excluded {counts['excluded']} + quarantined {counts['quarantined']}"
        )


# ---------------------------------------------------------------------------------------------
# helpers


def claims_path(settings: Settings, day: dt.date) -> Path:
    return settings.inbox / f"claims_{day:%Y%m%d}.csv"


MAX_WAIT_FOR_DELIVERY = dt.timedelta(hours=6)


def claims_file_ready(settings: Settings, day: dt.date, waiting_since: dt.datetime | None = None,
                      max_wait: dt.timedelta = MAX_WAIT_FOR_DELIVERY) -> bool:
    """The sensor's test: the intake has delivered the day's file (a missing file is not late yet).

    Past `max_wait` since the wait began it fails with a message naming the file, rather than
    Airflow's generic sensor timeout.
    """
    path = claims_path(settings, day)
    if path.is_file():
        return True
    if waiting_since is not None:
        waited = dt.datetime.now(dt.timezone.utc) - waiting_since
        if waited > max_wait:
            raise MissingDelivery(
                f"{path} has not arrived after waiting {waited.total_seconds() / 3600:.1f} h: the intake has not"
                f" delivered {day}. Ask the intake team to deliver it (a day without claims still gets a"
                f" header-only file), then clear this task to wait again."
            )
    log.info("waiting for %s: the intake has not delivered %s yet", path, day)
    return False


def _now() -> str:
    # Audit timestamps only; no data date is ever derived from the clock.
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _delivered_days_before(settings: Settings, day: dt.date) -> list[str]:
    days = []
    for path in settings.inbox.glob("claims_*.csv"):
        m = _CLAIMS_FILE.match(path.name)
        if m:
            d = dt.datetime.strptime(m.group(1), "%Y%m%d").date()
            if d < day:
                days.append(d.isoformat())
    return sorted(days)


def to_kst(utc_text: str) -> str:
    ts = dt.datetime.strptime(utc_text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    return ts.astimezone(KST).isoformat(timespec="seconds" if ts.microsecond == 0 else "microseconds")


# ---------------------------------------------------------------------------------------------
# stage


def stage_day(settings: Settings, program: Program, day: dt.date, run_id: str) -> dict:
    """Read the day's claims file, quarantine bad rows, classify the rest, store them; return the day's counts."""
    run_date = day.isoformat()
    path = claims_path(settings, day)
    wh = Warehouse(settings.db_url)
    with wh.begin() as conn:
        earlier = {r["run_date"]: r for r in Warehouse.rows(conn, "day_runs_before", run_date=run_date)}
        this = Warehouse.rows(conn, "day_run", run_date=run_date)
    missing = [d for d in _delivered_days_before(settings, day) if earlier.get(d, {}).get("status") != "published"]
    if missing:
        raise OutOfOrderRun(
            f"cannot run {run_date}: earlier delivered day(s) {', '.join(missing[:5])} not published yet;"
            f" run them first (relief run-day {missing[0]})"
        )

    try:
        data_sha = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        parsed = parse_claims_file(path, load_services(program.services_path))
    except MalformedFileError as exc:
        raise InboxFileError(f"claims file for {run_date} unusable: {exc}; nothing published for this day") from None
    if this and this[0]["status"] == "published" and this[0]["claims_sha256"] not in (None, data_sha):
        raise ReliefError(
            f"{path} changed since {run_date} was published (sha256 {this[0]['claims_sha256'][:12]}… now {data_sha[:12]}…):"
            " a published day is only rerun on the same input. Restore the file, or correct it in a later day's delivery."
        )

    counts = empty_counts()
    counts["rows_received"] = parsed.rows_received
    counts["quarantined"] = len(parsed.quarantined)
    counts["quarantined_by_reason"] = dict(Counter(q["reason"] for q in parsed.quarantined))

    # First pass within the file: the first line of a receipt is its report, later lines re-deliveries.
    seen: set[str] = set()
    last_line: dict[str, dict] = {}
    for row in parsed.rows:
        row["run_date"] = run_date
        if row["receipt_no"] in seen:
            row["outcome"] = "duplicate"
        else:
            seen.add(row["receipt_no"])
            row["outcome"] = "accepted" if row["kakao_corp"] else "excluded"
        last_line[row["receipt_no"]] = row
        for flag in ("kakao_corp", "paid_service", "monetary_loss"):
            row[flag] = int(row[flag])

    with wh.begin() as conn:
        Warehouse.run(conn, "reset_day", run_date=run_date)
        Warehouse.run(conn, "reset_day_results", run_date=run_date)
        Warehouse.executemany(conn, "insert_delivery", parsed.rows)
        Warehouse.executemany(
            conn,
            "insert_quarantine",
            ({**q, "run_date": run_date, "source_file": path.name} for q in parsed.quarantined),
        )
        previous = {r["receipt_no"]: r for r in Warehouse.rows(conn, "previous_versions", run_date=run_date)}
        if previous:
            Warehouse.executemany(conn, "mark_redelivered", ({"run_date": run_date, "receipt_no": r} for r in previous))
        for row in parsed.rows:
            if row["receipt_no"] in previous:
                row["outcome"] = "duplicate"
            counts[{"accepted": "accepted", "excluded": "excluded", "duplicate": "duplicates"}[row["outcome"]]] += 1

        # The table's counts follow each receipt's effective (latest) version.
        for receipt_no, row in last_line.items():
            prev = previous.get(receipt_no)
            if prev is None:
                counts["reports_received"] += 1
            else:
                _report_delta(counts, prev, -1)
            _report_delta(counts, row, +1)

        check_reconciles(counts, f"claims file {path.name}")
        Warehouse.run(
            conn,
            "upsert_day_run",
            run_date=run_date,
            run_id=run_id,
            status="staged",
            config_sha256=program.sha256,
            claims_sha256=data_sha,
            day_counts=json.dumps(counts),
            cumulative_counts=None,
            updated_at=_now(),
        )
    log.info(
        "staged %s: %d rows = %d accepted + %d duplicates + %d excluded + %d quarantined",
        path.name, counts["rows_received"], counts["accepted"], counts["duplicates"], counts["excluded"],
        counts["quarantined"],
    )
    return {k: counts[k] for k in ("rows_received", "accepted", "duplicates", "excluded", "quarantined")}


# ---------------------------------------------------------------------------------------------
# compute


def _touched_keys(conn, settings: Settings, day: dt.date, decisions: list[dict]) -> set[str]:
    run_date = day.isoformat()
    keys = {r["claimant_key"] for r in Warehouse.rows(conn, "day_business_keys", run_date=run_date)}
    # A re-delivery can move a receipt to another business: the old owner is recomputed too.
    keys |= {
        r["claimant_key"]
        for r in Warehouse.rows(conn, "previous_versions", run_date=run_date)
        if r["claimant_type"] == "small_business"
    }
    keys |= {d["claimant_key"] for d in decisions}
    keys |= {r["claimant_key"] for r in Warehouse.rows(conn, "open_balances", run_date=run_date)}
    return keys


def _optional_inbox_file(settings: Settings, kind: str, day: dt.date, parse):
    """Parse an optional inbox file (decisions, returns); a malformed file stops the day."""
    path = settings.inbox / f"{kind}_{day:%Y%m%d}.csv"
    if not path.exists():
        return None
    try:
        return parse(path)
    except MalformedFileError as exc:
        raise InboxFileError(f"{kind} file for {day} unusable: {exc}; nothing published for this day") from None


def _mask(account_no: str) -> str:
    return "*" * max(len(account_no) - 4, 0) + account_no[-4:]


def _fraud_holds(conn, program: Program, run_date: str) -> dict[str, tuple[str, str]]:
    """Businesses to hold for review: an account on too many businesses, or one holder+phone on several."""
    holds: dict[str, tuple[str, str]] = {}
    limit = program.max_businesses_per_account
    for r in Warehouse.rows(conn, "shared_accounts", run_date=run_date):
        if r["businesses"] > limit:
            holds[r["claimant_key"]] = (
                "shared_account",
                f"bank account {r['bank_code']}-{_mask(r['account_no'])} given by {r['businesses']} businesses"
                f" (more than {limit})",
            )
    contacts: dict[tuple[str, str], list[str]] = {}
    for r in Warehouse.rows(conn, "shared_contacts", run_date=run_date):
        contacts.setdefault((r["account_holder"], r["phone"]), []).append(r["claimant_key"])
    for keys in contacts.values():
        if len(keys) > 1:
            for key in keys:
                holds.setdefault(key, (
                    "suspected_duplicate",
                    f"same account holder and phone as {len(keys) - 1} other business number(s):"
                    f" {', '.join(k for k in sorted(keys) if k != key)}",
                ))
    return holds


def compute_day(settings: Settings, program: Program, day: dt.date) -> dict:
    """Each touched business's entitlement, diffed against the ledger: the day's payments (not yet published).

    Applies the day's council decisions and bank results first; fraud checks hold businesses for review.
    """
    run_date = day.isoformat()
    wh = Warehouse(settings.db_url)
    parsed_decisions = _optional_inbox_file(settings, "decisions", day, parse_decisions_file)
    parsed_returns = _optional_inbox_file(settings, "returns", day, parse_returns_file)
    candidate_decisions = parsed_decisions.decisions if parsed_decisions else []
    decision_errors = list(parsed_decisions.errors) if parsed_decisions else []
    return_results = parsed_returns.results if parsed_returns else []
    return_errors = list(parsed_returns.errors) if parsed_returns else []

    with wh.begin() as conn:
        status = Warehouse.rows(conn, "day_run", run_date=run_date)
        if not status or status[0]["status"] not in ("staged", "computed", "published", "rejected"):
            raise ReliefError(f"{run_date} has not been staged: run the stage step first")
        Warehouse.run(conn, "reset_day_results", run_date=run_date)

        # Bank results: only for payments issued before today.
        Warehouse.executemany(conn, "insert_payment_return", ({**r, "run_date": run_date} for r in return_results))
        issued = {r["payment_id"]: r for r in Warehouse.rows(conn, "issued_payments", run_date=run_date)}
        unknown = [r for r in return_results if r["payment_id"] not in issued]
        Warehouse.executemany(conn, "delete_payment_return", ({"run_date": run_date, "line_no": r["line_no"]} for r in unknown))
        return_errors += [{**r, "reason": "unknown_payment"} for r in unknown]
        Warehouse.executemany(conn, "insert_return_error", ({**e, "run_date": run_date} for e in return_errors))

        keys = _touched_keys(conn, settings, day, candidate_decisions)
        keys |= {p["claimant_key"] for p in issued.values()}
        Warehouse.executemany(conn, "insert_touched_keys", ({"run_date": run_date, "claimant_key": k} for k in sorted(keys)))
        holds = _fraud_holds(conn, program, run_date)
        extra = sorted(set(holds) - keys)
        Warehouse.executemany(conn, "insert_touched_keys", ({"run_date": run_date, "claimant_key": k} for k in extra))
        keys |= set(extra)
        claims = group_by_claimant(Warehouse.rows(conn, "business_claims", run_date=run_date))
        # A returned payment does not count as paid, and its bank details are not used again.
        returned_payments = Warehouse.rows(conn, "returned_payments", run_date=run_date)
        returned: dict[str, set[tuple[str, str]]] = {}
        for r in returned_payments:
            returned.setdefault(r["claimant_key"], set()).add((r["bank_code"], r["account_no"]))

        def state_of(key: str, decision: Decision | None):
            hold = holds.get(key, (None,))[0]
            return business_state(key, claims.get(key, []), decision, program, hold=hold,
                                  returned_accounts=frozenset(returned.get(key, ())))

        # Decisions: only for a known business that is under review (over the threshold, or held) today.
        applied = []
        for d in candidate_decisions:
            if d["claimant_key"] not in claims:
                decision_errors.append(reject(d, "unknown_claimant"))
            elif state_of(d["claimant_key"], None).status not in ("review_pending", "held"):
                decision_errors.append(reject(d, "not_under_review"))
            else:
                applied.append(d)
        Warehouse.executemany(conn, "insert_decision", ({**d, "run_date": run_date} for d in applied))
        Warehouse.executemany(conn, "insert_decision_error", ({**e, "run_date": run_date} for e in decision_errors))

        standing = {
            r["claimant_key"]: Decision(r["decision"], r["approved_amount_krw"], r["decided_at"])
            for r in Warehouse.rows(conn, "latest_decisions", run_date=run_date)
        }
        paid_before = {r["claimant_key"]: int(r["paid_krw"]) for r in Warehouse.rows(conn, "paid_before", run_date=run_date)}
        for r in returned_payments:
            paid_before[r["claimant_key"]] -= int(r["amount_krw"])

        states, dues, hold_rows = [], [], []
        for key in sorted(claims):
            state = state_of(key, standing.get(key))
            if state.surviving_claims == 0:
                continue  # not a small business with a loss claim: counted and reported, never paid
            due = payment_due(state, paid_before.get(key, 0))
            paid_after = paid_before.get(key, 0) + (due.amount_krw if due else 0)
            states.append(
                {
                    "run_date": run_date,
                    "claimant_key": key,
                    "business_reg_no": state.business_reg_no,
                    "claimant_name": state.claimant_name,
                    "loss_krw": state.loss_krw,
                    "surviving_claims": state.surviving_claims,
                    "services": state.services,
                    "receipts": state.receipts,
                    "status": state.status,
                    "entitlement_krw": state.entitlement_krw,
                    "paid_krw": paid_after,
                    "owed_krw": max(state.entitlement_krw - paid_after, 0),
                    "has_bank_details": int(state.bank is not None),
                }
            )
            if state.status == "held":
                hold_rows.append({"run_date": run_date, "claimant_key": key, "reason": holds[key][0],
                                  "detail": holds[key][1]})
            if due:
                dues.append(due)

        compact = f"{day:%Y%m%d}"
        payments = [
            {**due.__dict__, "payment_id": payment_id(program.payment_prefix, compact, i), "run_date": run_date}
            for i, due in enumerate(sorted(dues, key=lambda d: d.claimant_key), start=1)
        ]
        Warehouse.executemany(conn, "insert_business_state", states)
        Warehouse.executemany(conn, "insert_hold", hold_rows)
        Warehouse.executemany(conn, "insert_payment", payments)
        Warehouse.run(conn, "set_day_status", run_date=run_date, status="computed", updated_at=_now())

    result = {
        "run_date": run_date,
        "businesses_touched": len(keys),
        "payments": len(payments),
        "control_sum_krw": sum(p["amount_krw"] for p in payments),
        "largest_payment_krw": max((p["amount_krw"] for p in payments), default=0),
        "review_pending": sum(1 for s in states if s["status"] == "review_pending"),
        "held": len(hold_rows),
        "decisions_applied": len(applied),
        "decision_errors": len(decision_errors),
        "bank_results": len(return_results) - len(unknown),
        "bank_result_errors": len(return_errors),
    }
    log.info("computed %s: %s", run_date, result)
    return result


# ---------------------------------------------------------------------------------------------
# publish


def _folder_header(program: Program, run_date: str, run_id: str) -> dict:
    return {"program": program.code, "run_date": run_date, "run_id": run_id, "config_sha256": program.sha256}


def publish_day(settings: Settings, program: Program, day: dt.date, run_id: str, require_validation: bool = True) -> dict:
    """Write the day's outbox folders (each manifest last) and mark the day published."""
    run_date = day.isoformat()
    wh = Warehouse(settings.db_url)
    with wh.begin() as conn:
        status = Warehouse.rows(conn, "day_run", run_date=run_date)
        if not status or status[0]["status"] not in ("computed", "published"):
            raise ReliefError(f"{run_date} has not been computed: nothing to publish")
        if require_validation:
            results = {r["suite"]: r for r in Warehouse.rows(conn, "validation_results", run_date=run_date)}
            failed = [s for s in ("claims_staged", "payments_batch") if not (s in results and results[s]["success"])]
            if failed:
                raise ValidationFailed(f"{run_date}: suite(s) {', '.join(failed)} not passed: nothing published")
        day_counts = json.loads(status[0]["day_counts"])
        previous = Warehouse.rows(conn, "latest_day_run", as_of=(day - dt.timedelta(days=1)).isoformat())
        payments = Warehouse.rows(conn, "day_payments", run_date=run_date)
        exclusions = Warehouse.rows(conn, "day_exclusions", run_date=run_date)
        quarantined = Warehouse.rows(conn, "day_quarantine", run_date=run_date)
        queue = Warehouse.rows(conn, "review_queue", run_date=run_date)
        decision_errors = Warehouse.rows(conn, "day_decision_errors", run_date=run_date)
        awaiting = Warehouse.rows(conn, "awaiting_bank_details", run_date=run_date)[0]
        held = Warehouse.rows(conn, "current_holds", run_date=run_date)
        return_errors = Warehouse.rows(conn, "day_return_errors", run_date=run_date)
        reconciliation = reconcile(Warehouse.rows(conn, "reconciliation", run_date=run_date), run_date)

    from etl.payments.approval import require_approval

    approval = require_approval(settings, day, payments)
    day_counts["payments"] = len(payments)
    day_counts["paid_krw"] = sum(int(p["amount_krw"]) for p in payments)
    base = json.loads(previous[0]["cumulative_counts"]) if previous else empty_counts()
    cumulative = add_counts(base, day_counts)
    header = _folder_header(program, run_date, run_id)
    root = settings.outbox

    # Exclusions, quarantine, reviews, report first; the payment batch folder last.
    folder = outbox.begin_folder(root / "exclusions" / run_date)
    f = outbox.write_csv(
        folder,
        "affiliate_claims.csv",
        ["operator", "service", "receipt_no", "received_at", "channel", "claimant_type", "claimant_key",
         "claimant_name", "paid_service", "monetary_loss", "claimed_loss_krw", "description"],
        (
            [r["operator"], r["service"], r["receipt_no"], to_kst(r["received_at"]), r["channel"], r["claimant_type"],
             r["claimant_key"], r["claimant_name"], _bool(r["paid_service"]), _bool(r["monetary_loss"]),
             r["claimed_loss_krw"], r["description"]]
            for r in exclusions
        ),
    )
    outbox.finish_folder(folder, [f], {**header, "rows": f.rows, "by_operator": dict(sorted(Counter(r["operator"] for r in exclusions).items()))})

    folder = outbox.begin_folder(root / "quarantine" / run_date)
    f = outbox.write_csv(
        folder, "rejected_rows.csv", ["source_file", "line_no", "reason", "detail", "raw_row"],
        ([q["source_file"], q["line_no"], q["reason"], q["detail"], q["raw"]] for q in quarantined),
    )
    outbox.finish_folder(folder, [f], {**header, "rows": f.rows, "by_reason": dict(sorted(Counter(q["reason"] for q in quarantined).items())), "reasons": REASONS})

    folder = outbox.begin_folder(root / "reviews" / run_date)
    f_queue = outbox.write_csv(
        folder,
        "review_queue.csv",
        ["claimant_key", "business_reg_no", "business_name", "loss_krw", "surviving_claims", "services",
         "receipt_nos", "already_paid_krw", "has_bank_details", "pending_since", "proof_required"],
        (
            [q["claimant_key"], q["business_reg_no"], q["claimant_name"], q["loss_krw"], q["surviving_claims"],
             q["services"], q["receipts"], q["paid_krw"], _bool(q["has_bank_details"]), q["pending_since"],
             "proof of revenue loss over the review threshold (sales records before and after 2022-10-15)"]
            for q in queue
        ),
    )
    f_err = outbox.write_csv(
        folder, "decisions_errors.csv", ["line_no", "claimant_key", "reason", "detail", "raw_row"],
        ([e["line_no"], e["claimant_key"], e["reason"], e["detail"], e["raw"]] for e in decision_errors),
    )
    f_holds = outbox.write_csv(
        folder, "holds.csv",
        ["claimant_key", "business_reg_no", "business_name", "reason", "detail", "loss_krw", "entitlement_krw",
         "already_paid_krw", "held_on"],
        ([h["claimant_key"], h["business_reg_no"], h["claimant_name"], h["reason"], h["detail"], h["loss_krw"],
          h["entitlement_krw"], h["paid_krw"], h["held_on"]] for h in held),
    )
    outbox.finish_folder(folder, [f_queue, f_err, f_holds], {**header, "rows": f_queue.rows, "holds": f_holds.rows})

    summary = {
        **header,
        "day": day_counts,
        "cumulative": cumulative,
        "open": {
            "review_queue": len(queue),
            "held_for_review": len({h["claimant_key"] for h in held}),
            "awaiting_bank_details": int(awaiting["businesses"]),
            "awaiting_bank_details_krw": int(awaiting["owed_krw"]),
        },
        "reference": program.reference_claims,
    }
    if not reconciliation["balanced"]:
        raise ReliefError(f"{run_date}: the reconciliation does not balance: {reconciliation['cumulative']}")
    folder = outbox.begin_folder(root / "reports" / run_date)
    f = outbox.write_json(folder, "summary.json", summary)
    f_rec = outbox.write_json(folder, "reconciliation.json", {**header, **reconciliation})
    f_ret = outbox.write_csv(
        folder, "returns_errors.csv", ["line_no", "payment_id", "reason", "raw_row"],
        ([e["line_no"], e["payment_id"], e["reason"], e["raw"]] for e in return_errors),
    )
    outbox.finish_folder(folder, [f, f_rec, f_ret], header)

    control_sum = day_counts["paid_krw"]
    folder = outbox.begin_folder(root / "payments" / run_date)
    f = outbox.write_csv(folder, "payments.csv", PAYMENT_COLUMNS, ([p[c] for c in PAYMENT_COLUMNS] for p in payments))
    files = [f]
    if payments:  # a pain.001 needs at least one transaction: a day without payments has none
        files.append(_write_pain001(folder, program, day, payments))
    outbox.finish_folder(
        folder,
        files,
        {**header, "rows": f.rows, "control_sum_krw": control_sum,
         "largest_payment_krw": max((int(p["amount_krw"]) for p in payments), default=0),
         "sha256": f.sha256, "currency": "KRW", "approved_by": approval["decided_by"],
         "approved_at": approval["decided_at"]},
    )

    with wh.begin() as conn:
        Warehouse.run(
            conn, "set_day_cumulative", run_date=run_date, status="published", day_counts=json.dumps(day_counts),
            cumulative_counts=json.dumps(cumulative), updated_at=_now(),
        )
    log.info("published %s: %d payments, %d KRW", run_date, len(payments), control_sum)
    return {"run_date": run_date, "payments": len(payments), "control_sum_krw": control_sum,
            "review_queue": len(queue), "quarantined": day_counts["quarantined"]}


def _write_pain001(folder: Path, program: Program, day: dt.date, payments: list[dict]) -> outbox.WrittenFile:
    """The bank's file beside payments.csv; its creation time is fixed to the run day so reruns match."""
    from etl.payments.iso20022 import FILE_NAME, build_pain001

    data = build_pain001(
        payments,
        run_date=day,
        message_id=f"{program.payment_prefix}-{day:%Y%m%d}",
        created_at=dt.datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=KST),
        debtor=program.debtor,
    )
    outbox.write_atomic(folder / FILE_NAME, data)
    return outbox.WrittenFile(FILE_NAME, len(payments), hashlib.sha256(data).hexdigest(), len(data))


def _bool(value) -> str:
    return "true" if value else "false"


# ---------------------------------------------------------------------------------------------
# the whole day


def run_day(settings: Settings, program: Program, day: dt.date, run_id: str | None = None,
            approve: bool | None = None, validate: bool = True) -> dict:
    """Stage, validate, compute, validate, approve, publish one day: what the DAG does, in one process.

    The batch is approved by `approve=True` (a person running the command) or by the program's
    auto-approval switch; otherwise the day stops computed, awaiting approval (AwaitingApproval).
    """
    from etl.payments.approval import approve_automatically, record_decision

    run_id = run_id or f"cli__{_now()}"
    timings: dict[str, float] = {}

    def timed(stage: str, fn, *args):
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            timings[stage] = round(time.perf_counter() - started, 4)

    staged = timed("stage", stage_day, settings, program, day, run_id)
    if validate:
        from etl.quality.validate import validate_day_claims, validate_day_payments

        timed("validate_claims", validate_day_claims, settings, program, day)
    computed = timed("compute", compute_day, settings, program, day)
    if validate:
        timed("validate_payments", validate_day_payments, settings, program, day)
    if approve:
        record_decision(settings, day, True, f"relief run-day --approve ({os.environ.get('USER', 'unknown')})")
    else:
        approve_automatically(settings, program, day)  # or AwaitingApproval: a person must approve
    published = timed("publish", publish_day, settings, program, day, run_id, validate)
    return {**staged, **computed, **published, "seconds": timings}


def run_days(settings: Settings, program: Program, first: dt.date, last: dt.date,
             approve: bool | None = None, validate: bool = True) -> list[dict]:
    results = []
    day = first
    while day <= last:
        results.append(run_day(settings, program, day, approve=approve, validate=validate))
        day += dt.timedelta(days=1)
    return results
