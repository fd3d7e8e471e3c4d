"""Airflow's LocalExecutor, with Great Expectations loaded once in the scheduler instead of once per task.

`make airflow` (`airflow standalone`) and any single-machine deployment run the LocalExecutor: the scheduler
forks its worker processes when the executor starts, and each worker forks one process per task (the Task SDK's
supervisor). So what the scheduler has imported before `start()` is already in every task's memory, shared
copy-on-write (the executor freezes the garbage collector around the forks for that reason). Without it each
validation task imports GX itself: 3-6 s of a task that validates a small day in under one.

Configured with `AIRFLOW__CORE__EXECUTOR=etl.quality.local_executor.PreloadingLocalExecutor` (the Makefile sets
it). Only the scheduler starts an executor: the API server and the DAG processor read this class, never run it.
With another start method than fork nothing is inherited, so nothing is preloaded (the tasks import GX).
`etl.quality.validate` logs, per task, "preloaded by the worker" or what its import cost.
"""

from __future__ import annotations

import logging
import multiprocessing

from airflow.executors.local_executor import LocalExecutor

from etl.quality.preload import preload

log = logging.getLogger(__name__)


class PreloadingLocalExecutor(LocalExecutor):
    """LocalExecutor whose workers (and so their tasks) are forked with GX and pandas already imported."""

    def start(self) -> None:
        method = multiprocessing.get_start_method()
        if method == "fork":
            log.info("relief: Great Expectations preloaded in %.1f s for the LocalExecutor's tasks", preload())
        else:
            log.info("relief: start method %r, nothing to inherit: tasks import GX", method)
        super().start()
