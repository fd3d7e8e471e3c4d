"""
### claims_daily: one intake day of the 1015 relief program, from claims file to payment batch

One run per day of the intake window (2022-10-16 .. 2022-11-03 KST), in order, one at a time.
The run's **logical date** (in KST) is the day it processes: `claims_YYYYMMDD.csv` from `$RELIEF_INBOX`.

| task | what it does | on failure |
|---|---|---|
| `wait_for_claims_file` | waits for the intake's file (a missing file means not delivered yet), poking every 5 minutes | fails after 6 h with a message naming the file |
| `stage_claims` | parses, normalises, quarantines bad rows with a reason, classifies re-deliveries and affiliate claims | a malformed *file* stops the day, publishing nothing |
| `validate_claims` | Great Expectations suite `claims_staged` | a critical failure stops the day; results kept |
| `compute_payments` | applies council decisions, recomputes touched businesses, diffs against the ledger | |
| `validate_payments` | Great Expectations suite `payments_batch` | a critical failure stops the day; results kept |
| `route_batch` | a person approves every batch with payments, unless the program config approves automatically | |
| `approve_payment_batch` | **maker-checker**: finance approves the batch in *Required actions*, seeing its count, control sum and largest payment | *Reject* publishes nothing |
| `record_approval` / `auto_approve_batch` | records who released exactly this batch (its SHA-256) | |
| `publish_outbox` | writes payments (+ ISO 20022 pain.001), reviews, exclusions, quarantine and the summary; each manifest last | |
| `close_day` | after a rejection, discards the day's computed batch so the ledger is as it was | |

Every task is idempotent for its day: rerun (clear) any task or day and it reproduces the same files.
Runs depend on the previous day (`depends_on_past`): a day never runs before the one before it is published.
Configuration: `RELIEF_INBOX`, `RELIEF_OUTBOX`, `RELIEF_DB_URL`, `RELIEF_PROGRAM` in the workers' environment.
"""

from __future__ import annotations

import pendulum
from _relief import KST, default_args, tags
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import CronDataIntervalTimetable, TriggerRule, dag, task

APPROVAL_BODY = """\
**Payment batch for {{ ti.xcom_pull(task_ids='compute_payments')['run_date'] }}** (program 1015 relief)

| | |
|---|---|
| payments | {{ ti.xcom_pull(task_ids='compute_payments')['payments'] }} |
| control sum | {{ '{:,}'.format(ti.xcom_pull(task_ids='compute_payments')['control_sum_krw']) }} KRW |
| largest payment | {{ '{:,}'.format(ti.xcom_pull(task_ids='compute_payments')['largest_payment_krw']) }} KRW |
| council decisions applied | {{ ti.xcom_pull(task_ids='compute_payments')['decisions_applied'] }} |

*Approve* releases exactly this batch to the outbox. *Reject* publishes nothing for the day and
leaves the ledger as it was; clear the run to compute it again.
"""


@dag(
    dag_id="claims_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=KST),
    start_date=pendulum.datetime(2022, 10, 16, tz=KST),
    end_date=pendulum.datetime(2022, 11, 3, tz=KST),
    catchup=True,
    max_active_runs=1,
    default_args=default_args(depends_on_past=True),
    tags=tags("claims", "payments"),
    doc_md=__doc__,
)
def claims_daily():
    # The sensor fails itself after 6 h with a message naming the file; Airflow's timeout is a backstop.
    @task.sensor(poke_interval=300, timeout=6 * 3600 + 900, mode="reschedule")
    def wait_for_claims_file(logical_date=None, dag_run=None) -> bool:
        """Done when the intake's `claims_YYYYMMDD.csv` for the run's day is in the inbox."""
        from etl.claims.delivery import claims_file_ready
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return claims_file_ready(run.settings.inbox, run.day, waiting_since=getattr(dag_run, "start_date", None))

    @task
    def stage_claims(logical_date=None, dag_run=None) -> dict:
        from etl.claims.stage import stage_day
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return stage_day(run.warehouse, run.settings.inbox, run.program, run.day, dag_run.run_id)

    @task
    def validate_claims(logical_date=None, dag_run=None) -> dict:
        from etl.runtime import task_run
        from etl.quality.validate import validate_day_claims

        run = task_run(logical_date, dag_run)
        return validate_day_claims(run.warehouse, run.program, run.day)

    @task
    def compute_payments(logical_date=None, dag_run=None) -> dict:
        from etl.runtime import task_run
        from etl.payments.compute import compute_day

        run = task_run(logical_date, dag_run)
        return compute_day(run.warehouse, run.settings.inbox, run.program, run.day)

    @task
    def validate_payments(logical_date=None, dag_run=None) -> dict:
        from etl.runtime import task_run
        from etl.quality.validate import validate_day_payments

        run = task_run(logical_date, dag_run)
        return validate_day_payments(run.warehouse, run.program, run.day)

    @task.branch
    def route_batch(ti=None) -> str:
        """A person approves every batch with payments, unless the program approves automatically."""
        from etl.core.config import load_program

        batch = ti.xcom_pull(task_ids="compute_payments") or {}
        if load_program().auto_approve_payments or not batch.get("payments"):
            return "auto_approve_batch"
        return "approve_payment_batch"

    @task
    def auto_approve_batch(logical_date=None, dag_run=None) -> dict:
        from etl.runtime import task_run
        from etl.payments.approval import approve_automatically

        run = task_run(logical_date, dag_run)
        return approve_automatically(run.warehouse, run.program, run.day)

    approve_payment_batch = ApprovalOperator(
        task_id="approve_payment_batch",
        subject="Release the 1015 relief payment batch for {{ ti.xcom_pull(task_ids='compute_payments')['run_date'] }}?",
        body=APPROVAL_BODY,
    )

    @task
    def record_approval(logical_date=None, dag_run=None, ti=None) -> dict:
        from etl.runtime import task_run
        from etl.payments.approval import record_decision

        run = task_run(logical_date, dag_run)
        user = (ti.xcom_pull(task_ids="approve_payment_batch") or {}).get("responded_by_user") or {}
        approver = f"{user.get('name', '?')} (Airflow user {user.get('id', '?')})"
        return record_decision(run.warehouse, run.day, True, approver)

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def publish_outbox(logical_date=None, dag_run=None) -> dict:
        from etl.runtime import task_run
        from etl.payments.publish import publish_day

        run = task_run(logical_date, dag_run)
        return publish_day(run.warehouse, run.settings.outbox, run.program, run.day, dag_run.run_id)

    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def close_day(logical_date=None, dag_run=None, ti=None) -> str:
        """After a rejection (nothing failed, yet nothing published) discard the computed batch."""
        from etl.runtime import task_run
        from etl.payments.approval import discard_unpublished_batch

        run = task_run(logical_date, dag_run)
        user = ((ti.xcom_pull(task_ids="approve_payment_batch") or {}).get("responded_by_user") or {}).get("name")
        return discard_unpublished_batch(run.warehouse, run.day, f"{user or 'a reviewer'} (Reject in Airflow)")

    route = route_batch()
    wait_for_claims_file() >> stage_claims() >> validate_claims() >> compute_payments() >> validate_payments() >> route
    publish = publish_outbox()
    route >> auto_approve_batch() >> publish
    route >> approve_payment_batch >> record_approval() >> publish
    publish >> close_day()


claims_daily()
