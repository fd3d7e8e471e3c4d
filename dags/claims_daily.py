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

import datetime as dt

import pendulum
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import (
    CronDataIntervalTimetable,
    ExceptionRetryPolicy,
    RetryAction,
    RetryRule,
    TriggerRule,
    dag,
    task,
)

KST = "Asia/Seoul"
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
    default_args={
        "owner": "relief",
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=2),
        "depends_on_past": True,
        # A bad inbox file, a failed audit or an out-of-order day fails the same way every time:
        # fail at once with the message instead of retrying; other errors (database, disk) retry.
        "retry_policy": ExceptionRetryPolicy(
            rules=[RetryRule(exception="etl.core.errors.ReliefError", action=RetryAction.FAIL, reason="deterministic")]
        ),
    },
    tags=["relief", "claims", "payments"],
    doc_md=__doc__,
)
def claims_daily():
    # The sensor fails itself after 6 h with a message naming the file; Airflow's timeout is a backstop.
    @task.sensor(poke_interval=300, timeout=6 * 3600 + 900, mode="reschedule")
    def wait_for_claims_file(logical_date=None, dag_run=None) -> bool:
        """Done when the intake's `claims_YYYYMMDD.csv` for the run's day is in the inbox."""
        from etl.daily import claims_file_ready
        from etl.core.runtime import task_setup

        settings, _, day = task_setup(logical_date, dag_run.run_after)
        return claims_file_ready(settings, day, waiting_since=getattr(dag_run, "start_date", None))

    @task
    def stage_claims(logical_date=None, dag_run=None) -> dict:
        from etl.daily import stage_day
        from etl.core.runtime import task_setup

        settings, program, day = task_setup(logical_date, dag_run.run_after)
        return stage_day(settings, program, day, dag_run.run_id)

    @task
    def validate_claims(logical_date=None, dag_run=None) -> dict:
        from etl.core.runtime import task_setup
        from etl.quality.validate import validate_day_claims

        settings, program, day = task_setup(logical_date, dag_run.run_after)
        return validate_day_claims(settings, program, day)

    @task
    def compute_payments(logical_date=None, dag_run=None) -> dict:
        from etl.daily import compute_day
        from etl.core.runtime import task_setup

        settings, program, day = task_setup(logical_date, dag_run.run_after)
        return compute_day(settings, program, day)

    @task
    def validate_payments(logical_date=None, dag_run=None) -> dict:
        from etl.core.runtime import task_setup
        from etl.quality.validate import validate_day_payments

        settings, program, day = task_setup(logical_date, dag_run.run_after)
        return validate_day_payments(settings, program, day)

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
        from etl.payments.approval import approve_automatically
        from etl.core.runtime import task_setup

        settings, program, day = task_setup(logical_date, dag_run.run_after)
        return approve_automatically(settings, program, day)

    approve_payment_batch = ApprovalOperator(
        task_id="approve_payment_batch",
        subject="Release the 1015 relief payment batch for {{ ti.xcom_pull(task_ids='compute_payments')['run_date'] }}?",
        body=APPROVAL_BODY,
    )

    @task
    def record_approval(logical_date=None, dag_run=None, ti=None) -> dict:
        from etl.payments.approval import record_decision
        from etl.core.runtime import task_setup

        settings, _, day = task_setup(logical_date, dag_run.run_after)
        response = ti.xcom_pull(task_ids="approve_payment_batch") or {}
        user = response.get("responded_by_user") or {}
        return record_decision(settings, day, True, f"{user.get('name', '?')} (Airflow user {user.get('id', '?')})")

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def publish_outbox(logical_date=None, dag_run=None) -> dict:
        from etl.daily import publish_day
        from etl.core.runtime import task_setup

        settings, program, day = task_setup(logical_date, dag_run.run_after)
        return publish_day(settings, program, day, dag_run.run_id)

    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def close_day(logical_date=None, dag_run=None, ti=None) -> str:
        """After a rejection (nothing failed, yet nothing published) discard the computed batch."""
        from etl.payments.approval import discard_unpublished_batch
        from etl.core.runtime import task_setup

        settings, _, day = task_setup(logical_date, dag_run.run_after)
        response = ti.xcom_pull(task_ids="approve_payment_batch") or {}
        user = (response.get("responded_by_user") or {}).get("name") or "a reviewer"
        return discard_unpublished_batch(settings, day, f"{user} (Reject in Airflow)")

    route = route_batch()
    wait_for_claims_file() >> stage_claims() >> validate_claims() >> compute_payments() >> validate_payments() >> route
    publish = publish_outbox()
    route >> auto_approve_batch() >> publish
    route >> approve_payment_batch >> record_approval() >> publish
    publish >> close_day()


claims_daily()
