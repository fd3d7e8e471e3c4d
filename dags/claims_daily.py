"""
### claims_daily: one intake day of the 1015 relief program, from claims file to payment batch

One run per day of the intake window (2022-10-16 .. 2022-11-03 KST), in order, one at a time.
The run's **logical date** (in KST) is the day it processes: `claims_YYYYMMDD.csv` from `$RELIEF_INBOX`.

| task | what it does | on failure |
|---|---|---|
| `wait_for_claims_file` | waits for the intake's file (a missing file means not delivered yet) | times out after 6 h, naming the file |
| `stage_claims` | parses, normalises, quarantines bad rows with a reason, classifies re-deliveries and affiliate claims | a malformed *file* stops the day, publishing nothing |
| `validate_claims` | Great Expectations suite `claims_staged` | a critical failure stops the day; results kept |
| `compute_payments` | applies council decisions, recomputes touched businesses, diffs against the ledger | |
| `validate_payments` | Great Expectations suite `payments_batch` | a critical failure stops the day; results kept |
| `publish_outbox` | writes payments, reviews, exclusions, quarantine and the summary; each manifest last | |

Every task is idempotent for its day: rerun (clear) any task or day and it reproduces the same files.
Runs depend on the previous day (`depends_on_past`): a day never runs before the one before it is published.
Configuration: `RELIEF_INBOX`, `RELIEF_OUTBOX`, `RELIEF_DB_URL`, `RELIEF_PROGRAM` in the workers' environment.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task

KST = "Asia/Seoul"


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
    },
    tags=["relief", "claims", "payments"],
    doc_md=__doc__,
)
def claims_daily():
    @task.sensor(poke_interval=300, timeout=6 * 3600, mode="reschedule")
    def wait_for_claims_file(logical_date=None, dag_run=None) -> bool:
        """Done when the intake's `claims_YYYYMMDD.csv` for the run's day is in the inbox."""
        from etl.pipeline import claims_file_ready
        from etl.runtime import task_setup

        settings, _, day = task_setup(logical_date, dag_run.run_after)
        return claims_file_ready(settings, day)

    @task
    def stage_claims(logical_date=None, dag_run=None) -> dict:
        from etl.pipeline import stage_day
        from etl.runtime import task_setup

        settings, program, day = task_setup(logical_date, dag_run.run_after)
        return stage_day(settings, program, day, dag_run.run_id)

    @task
    def validate_claims(logical_date=None, dag_run=None) -> dict:
        from etl.runtime import task_setup
        from etl.validate import validate_day_claims

        settings, program, day = task_setup(logical_date, dag_run.run_after)
        return validate_day_claims(settings, program, day)

    @task
    def compute_payments(logical_date=None, dag_run=None) -> dict:
        from etl.pipeline import compute_day
        from etl.runtime import task_setup

        settings, program, day = task_setup(logical_date, dag_run.run_after)
        return compute_day(settings, program, day)

    @task
    def validate_payments(logical_date=None, dag_run=None) -> dict:
        from etl.runtime import task_setup
        from etl.validate import validate_day_payments

        settings, program, day = task_setup(logical_date, dag_run.run_after)
        return validate_day_payments(settings, program, day)

    @task
    def publish_outbox(logical_date=None, dag_run=None) -> dict:
        from etl.pipeline import publish_day
        from etl.runtime import task_setup

        settings, program, day = task_setup(logical_date, dag_run.run_after)
        return publish_day(settings, program, day, dag_run.run_id)

    (
        wait_for_claims_file()
        >> stage_claims()
        >> validate_claims()
        >> compute_payments()
        >> validate_payments()
        >> publish_outbox()
    )


claims_daily()
