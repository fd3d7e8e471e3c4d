"""grants_rollout: the January 5 rollout of the 1015 relief grants (orchestration only; the work is in etl.rollout)."""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task
from airflow.timetables.events import EventsTimetable

from etl.airflow_shared import BUDGET, GRANTS, KST, PUBLISHED_DAY, USERS, default_args, logged, tags

ROLLOUT_AT = pendulum.datetime(2023, 1, 5, 0, 0, tz=KST)

DOC = """
# grants_rollout

The bulk grants for every general user (PROGRAM.md), once, on **2023-01-05 KST** (the program config's
`rollout.date`).

1. **plan**: one streaming pass over the inbox's `users.csv` / `users.parquet`: quarantines malformed
   rows, stages the rest in hash buckets (one per shard), keeps each user's last row, and fixes the
   Talk Drawer Plus cutoff (the first `talk_drawer_cap` eligible users by opt-in time, ties by user_id).
2. **build_shard** (mapped, one task instance per shard, labelled `part-00000`, `part-00001`, ... in the UI):
   writes `grants/2023-01-05/part-NNNNN.csv` atomically. A failed shard retries alone; a shard already
   built and intact is kept.
3. **finish**: checks every shard, writes `manifest.json` last (bundles, items, validity, counts,
   SHA-256 per shard), then the budget report under `reports/budget/2023-01-05/` (beside the cash paid
   to small businesses so far: the Assets page shows claims -> payments -> this budget).

**Unpausing runs it.** The schedule is the single event 2023-01-05 00:00 KST with catchup: the moment the DAG
is unpaused, Airflow runs that event once (it is in the past), and never again. A finished rollout is not
redone by unpausing again; clearing its run rebuilds only missing or damaged shards.

**Triggering it by hand** (*Trigger*) asks for `rollout_date`: it must be the program's rollout date
(2023-01-05). Any other date fails the run at once, without retry, before anything is read or written; the
logical date the trigger form fills in is not used. A deterministic error (a bad users file, a wrong date)
never retries; a database or disk hiccup retries twice.

The grant folder is complete only when its manifest is there. `relief rollout 2023-01-05` runs the
same functions in one process. Paths come from `RELIEF_INBOX`, `RELIEF_OUTBOX`, `RELIEF_DB_URL`;
`RELIEF_SHARD_SIZE` sets the users per shard (default 1,000,000).
"""


def _day(context) -> str:
    """The rollout day: the scheduled event's date (KST), or a manual run's `rollout_date`; refuses any other.

    A manual run's logical date (what the trigger form fills in) is not the rollout's date: the param is.
    """
    from etl.core.config import load_program
    from etl.core.errors import ReliefError

    program = load_program()
    dag_run = context.get("dag_run")
    manual = str(getattr(dag_run, "run_type", "")).lower().endswith("manual")
    logical = context.get("logical_date")
    if manual or logical is None:
        asked = str((context.get("params") or {}).get("rollout_date") or "").strip()
        how = "rollout_date"
    else:
        asked = logical.in_timezone(KST).date().isoformat()
        how = "the run's logical date"
    if asked != program.rollout_date.isoformat():
        raise ReliefError(
            f"grants_rollout: {how} is {asked or '(empty)'}, but the program's rollout date is"
            f" {program.rollout_date}: refused, nothing read or written. Trigger it with rollout_date"
            f" = {program.rollout_date} (the rollout runs once, on that date)."
        )
    return asked


@dag(
    dag_id="grants_rollout",
    schedule=EventsTimetable(
        event_dates=[ROLLOUT_AT], restrict_to_events=True, description="once: 2023-01-05 00:00 KST"
    ),
    start_date=ROLLOUT_AT,
    catchup=True,  # the single event is in the past: run it once when the DAG is deployed (unpaused)
    max_active_runs=1,
    doc_md=DOC,
    default_args=default_args(retry_delay=pendulum.duration(minutes=1)),
    tags=tags("rollout", "grants"),
    params={
        "rollout_date": Param(
            ROLLOUT_AT.date().isoformat(),
            type="string",
            pattern=r"^\d{4}-\d{2}-\d{2}$",
            title="Rollout date (KST)",
            description="A manual run must name the program's rollout date (2023-01-05); any other is refused.",
        )
    },
)
def grants_rollout():
    @task(inlets=[USERS])
    @logged
    def plan(**context) -> list[int]:
        """One streaming pass over the users file: quarantine, hash buckets per shard, the pass cutoff.

        Refuses (no retry) a run whose rollout date is not the program's.
        """
        from etl.core.config import load_program
        from etl.core.settings import Settings
        from etl.rollout import plan_rollout

        result = plan_rollout(Settings.resolve(), load_program(), _day(context), run_id=context["run_id"])
        return result["shards"]

    @task(
        max_active_tis_per_dagrun=2,
        map_index_template="{{ shard_label }}",
        # A mapped task does not take its docstring as doc_md: say it here.
        doc_md="Writes one shard, `grants/DAY/part-NNNNN.csv`, atomically (one task instance per shard, labelled"
        " `part-NNNNN`); a failed shard retries alone, an intact one is kept.",
    )
    @logged
    def build_shard(shard: int, **context) -> dict:
        """Writes one shard, `grants/DAY/part-NNNNN.csv`, atomically (shown as `part-NNNNN` in the UI)."""
        from airflow.sdk import get_current_context

        from etl.core.config import load_program
        from etl.core.settings import Settings
        from etl.rollout import build_shard as build

        get_current_context()["shard_label"] = f"part-{shard:05d}"  # type: ignore[typeddict-unknown-key]
        return build(Settings.resolve(), load_program(), _day(context), shard)

    @task(inlets=[PUBLISHED_DAY], outlets=[GRANTS, BUDGET])
    @logged
    def finish(**context) -> dict:
        """Checks every shard, writes the manifest last, then the budget report beside the cash paid so far."""
        from etl.core.config import load_program
        from etl.core.settings import Settings
        from etl.rollout import finish_rollout

        result = finish_rollout(Settings.resolve(), load_program(), _day(context), run_id=context["run_id"])
        return {"folder": result["folder"], "shards": result["shards"], "counts": result["counts"]}

    shards = build_shard.expand(shard=plan())
    shards >> finish()


grants_rollout_dag = grants_rollout()
