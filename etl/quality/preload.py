"""Great Expectations loaded once per Celery worker, not once per task.

`import great_expectations` costs about 6 s, and every Airflow task is a fresh process: on a worker that forks
its task processes (Celery's prefork pool, then the Task SDK's `os.fork` per task), what the worker process
imported before forking is already in each task's memory. `scripts/airflow_celery.sh` points Airflow's
`[celery] celery_config_options` here: importing this module in `airflow celery worker` imports GX and the
modules the validations use, then hands Celery Airflow's own default config unchanged. Any other process that
reads the Celery config (the scheduler's CeleryExecutor, `airflow celery flower`) does not preload.

`etl.quality.validate` logs, per task, whether GX came preloaded or what its import cost.
"""

from __future__ import annotations

import sys
import time

PRELOADED = (
    "great_expectations",
    "great_expectations.core",
    "great_expectations.expectations.expectation_configuration",
    "great_expectations.data_context.types.base",
    "great_expectations.render.renderer",
    "great_expectations.render.view",
    "pandas",
)


def is_worker(argv: list[str]) -> bool:
    """`airflow celery worker ...` (and `celery worker`): the process whose forks run the tasks."""
    return "celery" in " ".join(argv) and "worker" in argv


def preload(modules: tuple[str, ...] = PRELOADED) -> float:
    """Import the validations' heavy modules now; returns the seconds it took."""
    import importlib
    import os

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    started = time.perf_counter()
    for name in modules:
        importlib.import_module(name)
    return time.perf_counter() - started


def _celery_config() -> dict:
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

    if is_worker(sys.argv):
        seconds = preload()
        print(f"relief: Great Expectations preloaded in {seconds:.1f} s for this worker's tasks", file=sys.stderr)
    return dict(DEFAULT_CELERY_CONFIG)


CELERY_CONFIG = _celery_config() if "airflow" in sys.modules else {}
