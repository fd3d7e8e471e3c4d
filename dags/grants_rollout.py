"""grants_rollout: the January 5 rollout of the 1015 relief grants (orchestration only; the work is in etl.rollout)."""

from __future__ import annotations

import pendulum
from _relief import KST, default_args, tags
from airflow.sdk import dag, task
from airflow.timetables.events import EventsTimetable

ROLLOUT_AT = pendulum.datetime(2023, 1, 5, 0, 0, tz=KST)

DOC = """
# grants_rollout

The bulk grants for every general user (PROGRAM.md), once, on **2023-01-05 KST**.

1. **plan**: one streaming pass over the inbox's `users.csv` / `users.parquet`: quarantines malformed
   rows, stages the rest in hash buckets (one per shard), keeps each user's last row, and fixes the
   Talk Drawer Plus cutoff (the first `talk_drawer_cap` eligible users by opt-in time, ties by user_id).
2. **build_shard** (mapped, one task instance per shard): writes `grants/2023-01-05/part-NNNNN.csv`
   atomically. A failed shard retries alone; a shard already built and intact is kept.
3. **finish**: checks every shard, writes `manifest.json` last (bundles, items, validity, counts,
   SHA-256 per shard), then the budget report under `reports/budget/2023-01-05/`.

The grant folder is complete only when its manifest is there. `relief rollout 2023-01-05` runs the
same functions in one process. Paths come from `RELIEF_INBOX`, `RELIEF_OUTBOX`, `RELIEF_DB_URL`;
`RELIEF_SHARD_SIZE` sets the users per shard (default 1,000,000).
"""


def _day(context) -> str | None:
    """The run's day in KST (a manual run without a logical date uses the program's rollout date)."""
    logical = context.get("logical_date")
    return logical.in_timezone(KST).date().isoformat() if logical else None


@dag(
    dag_id="grants_rollout",
    schedule=EventsTimetable(
        event_dates=[ROLLOUT_AT], restrict_to_events=True, description="once: 2023-01-05 00:00 KST"
    ),
    start_date=ROLLOUT_AT,
    catchup=True,  # the single event is in the past: run it once when the DAG is deployed
    max_active_runs=1,
    doc_md=DOC,
    default_args=default_args(retry_delay=pendulum.duration(minutes=1)),
    tags=tags("rollout", "grants"),
)
def grants_rollout():
    @task
    def plan(**context) -> list[int]:
        from etl.core.config import load_program
        from etl.core.settings import Settings
        from etl.rollout import plan_rollout

        result = plan_rollout(Settings.resolve(), load_program(), _day(context), run_id=context["run_id"])
        return result["shards"]

    @task(max_active_tis_per_dagrun=2)
    def build_shard(shard: int, **context) -> dict:
        from etl.core.config import load_program
        from etl.core.settings import Settings
        from etl.rollout import build_shard as build

        return build(Settings.resolve(), load_program(), _day(context), shard)

    @task
    def finish(**context) -> dict:
        from etl.core.config import load_program
        from etl.core.settings import Settings
        from etl.rollout import finish_rollout

        result = finish_rollout(Settings.resolve(), load_program(), _day(context), run_id=context["run_id"])
        return {"folder": result["folder"], "shards": result["shards"], "counts": result["counts"]}

    shards = build_shard.expand(shard=plan())
    shards >> finish()


grants_rollout_dag = grants_rollout()
