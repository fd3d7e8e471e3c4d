"""The whole day in one process: stage, validate, compute, validate, approve, publish.

What the `claims_daily` DAG does task by task, for `relief run-day`, backfills and tests. Each step
is idempotent for its day; a day sees the claims received up to it and the payments made before it.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from etl.claims.stage import stage_day
from etl.core.clock import audit_now
from etl.core.config import Program
from etl.core.errors import ReliefError
from etl.core.settings import Settings
from etl.core.sidecar import Sidecar
from etl.io.lock import writer
from etl.io.warehouse import Warehouse
from etl.ledger import days
from etl.payments.approval import approve_automatically, record_decision
from etl.payments.compute import ComputeResult, compute_day
from etl.payments.publish import publish_day
from etl.reports.finance.charts import finance_charts

T = TypeVar("T")
# How long compute waits, holding the writer lock, for the claims validation run beside it (a 2-million-claim day
# validates in about a minute here); past it the day stops rather than hang (see _compute_beside_claims_check).
CLAIMS_CHECK_WAIT_S = 1800.0
# What the sidecar imports for the charts, beside what a Celery worker preloads for the validations.
CHART_MODULES = ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg", "matplotlib.ticker")


def day_path(wh: Warehouse, inbox: Path, program: Program, day: dt.date) -> str:
    """The claims_daily task a day goes on to, after the checks every day must pass (raising otherwise).

    `wait_for_claims_file` inside the window; `stage_claims` for a settlement day with files (or a published
    day cleared to be written again); `nothing_to_do` for a settlement day without any.
    """
    days.check_life(inbox, program, day)
    published = days.is_published(wh, day)
    if not published:
        days.check_open(wh, program, day)
        days.check_order(wh, inbox, program, day)
    if program.in_window(day):
        return "wait_for_claims_file"
    return "stage_claims" if published or days.has_inputs(inbox, day) else "nothing_to_do"


def run_day(
    settings: Settings,
    program: Program,
    day: dt.date,
    run_id: str | None = None,
    approve: bool | None = None,
    validate: bool = True,
    sidecar: Sidecar | None = None,
) -> dict[str, Any]:
    """Stage, validate, compute, validate, approve, publish one day: what the DAG does, in one process.

    The batch is approved by `approve=True` (a person running the command) or by the program's
    auto-approval switch; otherwise the day stops computed, awaiting approval (AwaitingApproval).
    Given a sidecar, the validations and the charts run there: the claims validation beside compute (which waits
    for it before it commits, see _compute_beside_claims_check), the others waited for in turn.
    """
    wh = Warehouse(settings.db_url)
    days.check_life(settings.inbox, program, day)
    if not program.in_window(day) and not days.has_inputs(settings.inbox, day) and not days.is_published(wh, day):
        # A settlement day that received no file: nothing to do, and it blocks no later day.
        return {"run_date": day.isoformat(), "skipped": "no decisions or returns file for this day"}
    run_id = run_id or f"cli__{audit_now()}"
    # One writer for the whole day, not step by step: a second `relief run-day` of the day stops at once ("being
    # written by"). Held per step only, it could restage the day between this run's compute and its approval.
    with writer(wh, f"run-day {day} ({run_id})"):
        return _run_steps(wh, settings, program, day, run_id, approve, validate, sidecar)


def _run_steps(
    wh: Warehouse,
    settings: Settings,
    program: Program,
    day: dt.date,
    run_id: str,
    approve: bool | None,
    validate: bool,
    sidecar: Sidecar | None,
) -> dict[str, Any]:
    timings: dict[str, float] = {}

    def timed(stage: str, fn: Callable[..., T], *args: Any) -> T:
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            timings[stage] = round(time.perf_counter() - started, 4)

    staged = timed("stage", stage_day, wh, settings.inbox, program, day, run_id)
    replay = days.is_published(wh, day)  # a rerun of a published day: its recorded results stand
    if validate and sidecar is not None and sidecar.alive and not replay:
        computed = _compute_beside_claims_check(wh, settings, program, day, sidecar, timings)
    else:
        if validate:
            # Great Expectations takes seconds to import: only when a day is validated (in the sidecar, if any).
            from etl.quality.validate import validate_claims_at

            timed("validate_claims", _on(sidecar), validate_claims_at, settings.db_url, program, day)
        computed = timed("compute", compute_day, wh, settings.inbox, program, day)
    if validate:
        timed("validate_payments", _validate_payments, wh, settings, program, day, sidecar, replay)
    if approve:
        record_decision(wh, day, True, f"relief run-day --approve ({os.environ.get('USER', 'unknown')})")
    else:
        approve_automatically(wh, program, day)  # or AwaitingApproval: a person must approve
    charts = functools.partial(sidecar.call, finance_charts) if sidecar else None
    published = timed("publish", publish_day, wh, settings.outbox, program, day, run_id, validate, charts)
    return {**staged, **computed, **published, "seconds": timings}


def _validate_payments(
    wh: Warehouse, settings: Settings, program: Program, day: dt.date, sidecar: Sidecar | None, replay: bool
) -> dict[str, Any]:
    """The payments suite, checked in the sidecar (if any) and recorded here, by the writer; a published day's
    recorded result, as it stands."""
    from etl.quality.validate import check_payments_at, keep_outcome, validate_payments_at

    if replay:
        return validate_payments_at(settings.db_url, program, day)  # reads the recorded result only
    return keep_outcome(wh, day, _on(sidecar)(check_payments_at, settings.db_url, program, day))


def _compute_beside_claims_check(
    wh: Warehouse, settings: Settings, program: Program, day: dt.date, sidecar: Sidecar, timings: dict[str, float]
) -> ComputeResult:
    """Compute the day while the sidecar validates its staged claims, on the other core.

    Compute waits for the outcome before it commits (its gate): a failed validation rolls compute back, so the day
    ends as when validation runs first: staged, the failure recorded, ValidationFailed raised. The outcome is
    recorded here, by this process (the one writer), once compute's transaction has ended. In the timings,
    "validate_claims" is the time spent waiting for the outcome and recording it, and "compute" the rest.
    """
    from etl.quality.validate import check_claims_at, keep_outcome, validation_failure

    outcome = sidecar.submit(check_claims_at, settings.db_url, program, day)
    waited = 0.0
    gave_up = False

    def gate() -> None:
        nonlocal waited, gave_up
        started = time.perf_counter()
        try:
            failure = validation_failure(day, outcome(timeout=CLAIMS_CHECK_WAIT_S))
        except TimeoutError:
            # Never wait for ever holding the writer lock: stop the sidecar, roll compute back, say so.
            gave_up = True
            sidecar.close()
            raise ReliefError(
                f"{day}: the claims validation beside compute did not finish within {CLAIMS_CHECK_WAIT_S:.0f} s;"
                " compute is rolled back and nothing of the day is kept beyond its staged rows. Run the day again"
                " (it validates again); if it hangs again, look for a lock held on the warehouse."
            ) from None
        finally:
            waited = time.perf_counter() - started
        if failure is not None:
            raise failure

    started = time.perf_counter()
    try:
        computed = compute_day(wh, settings.inbox, program, day, gate)
    except Exception:
        # Recorded as if validation had run first: its failure is the day's error; if it passed, compute's is.
        if not gave_up:
            keep_outcome(wh, day, outcome())
        raise
    computed_at = time.perf_counter()
    keep_outcome(wh, day, outcome())  # collected by the gate already, unless compute replayed the day
    timings["validate_claims"] = round(waited + time.perf_counter() - computed_at, 4)
    timings["compute"] = round(computed_at - started - waited, 4)
    return computed


def run_days(
    settings: Settings,
    program: Program,
    first: dt.date,
    last: dt.date,
    approve: bool | None = None,
    validate: bool = True,
) -> list[dict[str, Any]]:
    """Every day from `first` through `last`, in order, in one process (and its sidecar).

    The sidecar imports Great Expectations and matplotlib on the other core while the first day stages:
    every `relief run-day` is a fresh process, and those imports would otherwise be most of a small day.
    """
    results = []
    day = first
    with Sidecar(sidecar_preload()) as sidecar:
        while day <= last:
            results.append(run_day(settings, program, day, approve=approve, validate=validate, sidecar=sidecar))
            day += dt.timedelta(days=1)
    return results


def sidecar_preload() -> tuple[str, ...]:
    """What a run's sidecar imports (and `relief sidecar-server` once for all): the validations', the charts'."""
    from etl.quality.preload import PRELOADED  # here: at import it reads Airflow's Celery config inside Airflow

    return (*PRELOADED, "etl.quality.validate", *CHART_MODULES, "etl.quality.validate:warm_up")


def _on(sidecar: Sidecar | None) -> Callable[..., Any]:
    """Call a function in the sidecar, or here without one."""
    return sidecar.call if sidecar else lambda fn, *args: fn(*args)
