"""
### claims_daily: one day of the 1015 relief program, from inbox files to a published payment batch

One run per day from the outage's day to the program's close (2022-10-15 .. 2023-03-31 KST), in order,
one at a time. The run's **logical date** (in KST) is the day it processes. Airflow shows three dates
for a run: the *logical date* (the day, 00:00 KST: this is the intake day of the files), the *run after*
(the next midnight, when the day is over and Airflow starts the run) and the run id (the logical date in
UTC, `scheduled__2022-10-15T15:00:00+00:00` for the day 2022-10-16). The day is always the logical date.

* **Intake window** (2022-10-15 .. 2022-11-02): the day's `claims_YYYYMMDD.csv` is required; the run
  waits for it.
* **Settlement period** (to the close): the council's `decisions_YYYYMMDD.csv` and the bank's
  `returns_YYYYMMDD.csv` are processed on their day. A day that received neither is skipped (the run is
  green, its tasks skipped): it blocks nothing. A claims file for a day outside the window is refused.
* **The close** (`settlement.close_date`): after publishing, `close_program` writes the closing report;
  after it no day computes or pays.

| task | what it does | on failure |
|---|---|---|
| `check_day` | the day's place in the program: in order (every earlier day published), within its life; picks the path | fails at once (no retry) while an earlier day is unpublished: clear it after that day is fixed |
| `wait_for_claims_file` | waits for the intake's file, poking every 5 minutes (window days only) | fails after 6 h with a message naming the file |
| `nothing_to_do` | a settlement day without files | |
| `stage_claims` | parses, normalises, quarantines bad rows with a reason, classifies re-deliveries and affiliate claims | a malformed *file* stops the day, publishing nothing |
| `validate_claims` | Great Expectations suite `claims_staged` | a critical failure stops the day; results kept |
| `compute_payments` | applies bank results and council decisions, recomputes touched businesses, diffs against the ledger | |
| `validate_payments` | Great Expectations suite `payments_batch` | a critical failure stops the day; results kept |
| `route_batch` | a person approves every batch with payments, unless the program config approves automatically | |
| `approve_payment_batch` | **maker-checker**: an approver named in the program config approves the batch in *Required actions* | *Reject* (with a reason) publishes nothing |
| `record_approval` / `auto_approve_batch` | records who released exactly this batch (its SHA-256); refuses anyone not named in `approval.approvers` | |
| `publish_outbox` | writes payments (+ ISO 20022 pain.001), reviews, exclusions, quarantine, reports, then the day manifest | |
| `close_day` | after a rejection: records who and why, discards the computed batch, and **fails the run** so it shows | |
| `close_program` | on the close date only: the closing report (`relief close`) | |

Every task is idempotent for its day. A published day is final: clearing it writes the same files again,
byte for byte, and refuses changed inputs. A rejected or failed day is recomputed by clearing its run; later
runs that failed fast in `check_day` meanwhile are cleared after it (Browse → Dag Runs, select, Clear).
Configuration: `RELIEF_INBOX`, `RELIEF_OUTBOX`, `RELIEF_DB_URL`, `RELIEF_PROGRAM` in the workers' environment.
"""

from __future__ import annotations

import pendulum
from _relief import KST, default_args, tags
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import CronDataIntervalTimetable, Param, TriggerRule, dag, task

APPROVAL_BODY = """\
**Payment batch for {{ ti.xcom_pull(task_ids='compute_payments')['run_date'] }}** (program 1015 relief)

| | |
|---|---|
| payments | {{ ti.xcom_pull(task_ids='compute_payments')['payments'] }} |
| control sum | {{ '{:,}'.format(ti.xcom_pull(task_ids='compute_payments')['control_sum_krw']) }} KRW |
| largest payment | {{ '{:,}'.format(ti.xcom_pull(task_ids='compute_payments')['largest_payment_krw']) }} KRW |
| council decisions applied | {{ ti.xcom_pull(task_ids='compute_payments')['decisions_applied'] }} |
| held above the cap (not in this batch) | {{ ti.xcom_pull(task_ids='compute_payments')['over_cap'] }} |

*Approve* releases exactly this batch to the outbox (only an approver named in the program config may).
*Reject* publishes nothing for the day and leaves the ledger as it was: give the reason; the run then
fails so the day shows as rejected, and clearing it computes the day again.
"""


@dag(
    dag_id="claims_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=KST),
    start_date=pendulum.datetime(2022, 10, 15, tz=KST),
    end_date=pendulum.datetime(2023, 3, 31, tz=KST),
    catchup=True,
    max_active_runs=1,
    # No depends_on_past: the ledger enforces day order itself (check_day fails fast), so a failed day
    # never leaves a later run waiting in the only slot.
    default_args=default_args(),
    tags=tags("claims", "payments"),
    doc_md=__doc__,
)
def claims_daily():
    @task.branch
    def check_day(logical_date=None, dag_run=None) -> str:
        """The day's path: wait for the claims file (window), process the day's files, or nothing to do."""
        from etl.daily import day_path
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return day_path(run.warehouse, run.settings.inbox, run.program, run.day)

    # The sensor fails itself after 6 h with a message naming the file; Airflow's timeout is a backstop.
    @task.sensor(poke_interval=300, timeout=6 * 3600 + 900, mode="reschedule")
    def wait_for_claims_file(logical_date=None, dag_run=None) -> bool:
        """Done when the intake's `claims_YYYYMMDD.csv` for the run's day is in the inbox."""
        from etl.claims.delivery import claims_file_ready
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return claims_file_ready(run.settings.inbox, run.day, waiting_since=getattr(dag_run, "start_date", None))

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def stage_claims(logical_date=None, dag_run=None) -> dict:
        from etl.claims.stage import stage_day
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return stage_day(run.warehouse, run.settings.inbox, run.program, run.day, dag_run.run_id)

    @task
    def validate_claims(logical_date=None, dag_run=None) -> dict:
        from etl.quality.validate import validate_day_claims
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return validate_day_claims(run.warehouse, run.program, run.day)

    @task
    def compute_payments(logical_date=None, dag_run=None) -> dict:
        from etl.payments.compute import compute_day
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return compute_day(run.warehouse, run.settings.inbox, run.program, run.day)

    @task
    def validate_payments(logical_date=None, dag_run=None) -> dict:
        from etl.quality.validate import validate_day_payments
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return validate_day_payments(run.warehouse, run.program, run.day)

    @task.branch
    def route_batch(ti=None) -> str:
        """A person approves every batch with payments, unless the program approves automatically."""
        from etl.core.config import load_program

        batch = ti.xcom_pull(task_ids="compute_payments") or {}
        if load_program().auto_approve_payments or not batch.get("payments") or batch.get("replayed"):
            return "auto_approve_batch"
        return "approve_payment_batch"

    @task
    def auto_approve_batch(logical_date=None, dag_run=None) -> dict:
        from etl.payments.approval import approve_automatically
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return approve_automatically(run.warehouse, run.program, run.day)

    approve_payment_batch = ApprovalOperator(
        task_id="approve_payment_batch",
        subject="{{ ti.xcom_pull(task_ids='compute_payments')['run_date'] }}: release the 1015 relief payment batch?",
        body=APPROVAL_BODY,
        params={"reason": Param("", type="string", title="Reason (required to reject)")},
    )

    @task
    def record_approval(logical_date=None, dag_run=None, ti=None) -> dict:
        from etl.payments.approval import record_airflow_approval
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return record_airflow_approval(
            run.warehouse, run.program, run.day, ti.xcom_pull(task_ids="approve_payment_batch")
        )

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def publish_outbox(logical_date=None, dag_run=None) -> dict:
        from etl.payments.publish import publish_day
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return publish_day(run.warehouse, run.settings.outbox, run.program, run.day, dag_run.run_id)

    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def close_day(logical_date=None, dag_run=None, ti=None) -> str:
        """After a rejection (nothing failed, yet nothing published): record it, discard the batch, fail the run."""
        from etl.payments.approval import close_rejected_day
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return close_rejected_day(run.warehouse, run.day, ti.xcom_pull(task_ids="approve_payment_batch"))

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def close_program(logical_date=None, dag_run=None) -> dict:
        """On the program's close date only: the closing report, and no payment after it."""
        from etl.reports.closing import close_on_schedule
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return close_on_schedule(run.warehouse, run.settings.outbox, run.program, run.day)

    path = check_day()
    stage = stage_claims()
    path >> wait_for_claims_file() >> stage
    path >> stage
    idle = EmptyOperator(task_id="nothing_to_do", doc_md="A settlement day without inbox files: nothing to do.")
    path >> idle
    route = route_batch()
    stage >> validate_claims() >> compute_payments() >> validate_payments() >> route
    publish = publish_outbox()
    route >> auto_approve_batch() >> publish
    route >> approve_payment_batch >> record_approval() >> publish
    publish >> close_day()
    [publish, idle] >> close_program()


claims_daily()
