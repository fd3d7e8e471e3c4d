"""`relief verify --db URL`: the folder against the warehouse it was published from, read and never written.

A seal proves only that someone holding the key wrote the manifest; the warehouse says what was approved. So
the batch's SHA-256 must be the approved one, the manifest's approver and time the warehouse's, and
`payments.csv` must hold exactly the warehouse's payments of the day, field for field.
"""

from __future__ import annotations

from pathlib import Path

from etl.core.errors import ReliefError
from etl.io.outbox import MANIFEST, inert
from etl.payments.verify.report import _SHOWN_FIELDS, PAYMENT_COLUMNS, PAYMENTS_CSV, VerifyReport, _Payment, _uninert


def _read_ledger(db_url: str, run_date: str) -> dict[str, list[dict]]:
    """The day's approval, payments and run record, read (never written) from the warehouse."""
    import sqlalchemy as sa

    from etl.io.sqlfiles import sql

    url = sa.engine.make_url(db_url)
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        if not path or path == ":memory:" or (not path.startswith("file:") and not Path(path).is_file()):
            raise ReliefError(f"the warehouse {path or db_url!r} does not exist")
    engine = sa.create_engine(url, hide_parameters=True)
    try:
        with engine.connect() as conn:
            out = {}
            for key, query in (("approval", "batch_approval"), ("payments", "day_payments"), ("run", "day_run")):
                result = conn.execute(sa.text(sql(query)), {"run_date": run_date})
                names = list(result.keys())
                out[key] = [dict(zip(names, r)) for r in result.fetchall()]
            return out
    except sa.exc.SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).splitlines()[0] if str(exc) else ""
        raise ReliefError(f"cannot read the warehouse ({type(exc).__name__}: {first})") from None
    finally:
        engine.dispose()


def _ledger_cell(value: object) -> str:
    """A warehouse value as publish writes it into payments.csv."""
    return "" if value is None else str(inert(value))


def _check_ledger(
    report: VerifyReport, db_url: str, run_date: str, manifest: dict, payments: dict[str, _Payment]
) -> None:
    """The files against the warehouse: the approved batch, who approved it and when, every payment's fields."""
    try:
        ledger = _read_ledger(db_url, run_date)
    except ReliefError as exc:
        report.problems.append(f"--db: {exc}")
        return
    where = f"the warehouse ({run_date})"
    run = ledger["run"]
    if not run:
        report.problems.append(f"{where}: no run of this day: these files are not the warehouse's; do not upload")
    elif run[0]["status"] != "published":
        report.problems.append(f"{where}: the day is {run[0]['status']!r}, not published")
    _check_ledger_payments(report, run_date, ledger["payments"], payments)
    approvals = ledger["approval"]
    if not approvals:
        report.problems.append(f"{where}: no decision on this batch in batch_approvals: never approved; do not upload")
        return
    _check_approval(report, run_date, approvals[0], manifest, payments)
    if not report.problems:
        report.notes.append(f"the warehouse agrees (approved by {approvals[0]['decided_by']})")


def _check_ledger_payments(
    report: VerifyReport, run_date: str, in_warehouse: list[dict], payments: dict[str, _Payment]
) -> None:
    """Every payment, field for field (the batch hash covers only some fields), and none missing either way."""
    in_ledger = {str(r["payment_id"]): r for r in in_warehouse}
    for pid, paid in sorted(payments.items(), key=lambda kv: kv[1].line):
        row = in_ledger.get(pid)
        at = f"{PAYMENTS_CSV} line {paid.line} ({pid})"
        if row is None:
            report.problems.append(f"{at}: not a payment of {run_date} in the warehouse")
            continue
        for col in PAYMENT_COLUMNS:
            want, got = _ledger_cell(row.get(col)), paid.row.get(col, "")
            if want != got:
                shown = f" ({got!r}, the warehouse has {want!r})" if col in _SHOWN_FIELDS else ""
                report.problems.append(f"{at}: {col} differs from the warehouse{shown}")
    for pid in sorted(set(in_ledger) - set(payments)):
        report.problems.append(f"the warehouse ({run_date}): payment {pid} is not in {PAYMENTS_CSV}")


def _check_approval(
    report: VerifyReport, run_date: str, approval: dict, manifest: dict, payments: dict[str, _Payment]
) -> None:
    """The decision is an approval of this very batch (its SHA-256, count and sum), by whom and when it says."""
    from etl.payments.approval import facts_of

    where = f"the warehouse ({run_date})"
    if approval["decision"] != "approved":
        report.problems.append(f"{where}: the batch is recorded as {approval['decision']!r}, not approved")
    rows = [{k: _uninert(v) for k, v in p.row.items()} for p in sorted(payments.values(), key=lambda p: p.line)]
    if any(p.amount is None for p in payments.values()):
        report.problems.append(f"{PAYMENTS_CSV}: the batch's SHA-256 cannot be computed (amounts that are not numbers)")
    else:
        facts = facts_of(run_date, rows)
        if facts["batch_sha256"] != approval["batch_sha256"]:
            report.problems.append(
                f"{PAYMENTS_CSV}: the batch's SHA-256 is {facts['batch_sha256']}, the approved batch's is"
                f" {approval['batch_sha256']}: the payments changed after approval; do not upload"
            )
        for key in ("payments", "control_sum_krw"):
            if int(approval[key]) != facts[key]:
                report.problems.append(
                    f"{PAYMENTS_CSV}: {key} is {facts[key]}, the approval says {approval[key]} ({where})"
                )
    for key, column in (("approved_by", "decided_by"), ("approved_at", "decided_at")):
        if manifest.get(key) != str(approval[column]):
            report.problems.append(
                f"{MANIFEST}: {key} is {manifest.get(key)!r}, the warehouse's batch_approvals has"
                f" {str(approval[column])!r}"
            )
