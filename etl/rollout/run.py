"""The whole rollout in one process (`relief rollout DATE`): plan, every shard, finish.

The same three steps the `grants_rollout` DAG runs as separate tasks, so the command line and
Airflow publish the same bytes. Shards already built and intact are kept, so after a crash a rerun
builds only the missing or damaged ones; markers this process has just written are not hashed again
at the finish.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from etl.core.config import Program
from etl.core.settings import Settings
from etl.rollout.common import Progress, worker_count
from etl.rollout.finish import finish_rollout
from etl.rollout.plan import plan_rollout
from etl.rollout.results import Plan, RunResult, ShardMarker
from etl.rollout.shards import build_shard


def run_rollout(
    settings: Settings,
    program: Program,
    day: dt.date | str | None = None,
    shard_size: int | None = None,
    run_id: str | None = None,
) -> RunResult:
    """Plan, build every shard (skipping those already built), finish. Returns the finish summary."""
    t0 = time.monotonic()
    plan = plan_rollout(settings, program, day, shard_size=shard_size, run_id=run_id)
    built = _build_all(settings, program, plan)
    result = finish_rollout(settings, program, plan["day"], run_id=run_id or plan["run_id"], checked=built)
    return {**result, "seconds": round(time.monotonic() - t0, 2)}


def _build_all(settings: Settings, program: Program, plan: Plan) -> dict[int, ShardMarker]:
    """Every shard's marker, by shard; progress is logged in shard order."""
    done = 0
    progress = Progress(f"rollout {plan['day']}: granted", plan["counts"]["eligible"], every=0)
    # Two shards computed at a time (pyarrow and numpy release the GIL while they filter, format and
    # hash), and one more writing and syncing its file: the disk's waits overlap the work.
    built: dict[int, ShardMarker] = {}
    workers = worker_count()
    cpu_slots = threading.Semaphore(workers)
    with ThreadPoolExecutor(workers + 1) as pool:
        futures = [pool.submit(build_shard, settings, program, plan["day"], k, cpu_slots) for k in plan["shards"]]
        for k, future in zip(plan["shards"], futures):
            built[k] = future.result()
            done += built[k]["rows"]
            progress.update(done)
    return built
