"""Celery workers and the LocalExecutor preload Great Expectations for their tasks; nothing else does."""

from __future__ import annotations

import subprocess
import sys

from etl.quality.preload import PRELOADED, is_worker


def test_only_a_celery_worker_preloads():
    assert is_worker(["/venv/bin/airflow", "celery", "worker", "--concurrency", "2"])
    assert is_worker(["celery", "-A", "app", "worker"])
    assert not is_worker(["/venv/bin/airflow", "scheduler"])
    assert not is_worker(["/venv/bin/airflow", "celery", "flower"])
    assert not is_worker(["/venv/bin/relief", "run-day", "2022-10-15"])


def _run(code: str, *argv: str) -> str:
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True, timeout=120)
    return out.stdout.strip().splitlines()[-1]  # Airflow logs to stdout first


def test_the_worker_config_preloads_and_is_airflows_default_config():
    """What `airflow celery worker` reads as [celery] celery_config_options: GX loaded, config unchanged."""
    code = (
        "import sys; sys.argv = ['airflow', 'celery', 'worker'];"
        "import airflow.providers.celery.executors.default_celery as d;"
        "import etl.quality.preload as p;"
        "print(all(m in sys.modules for m in p.PRELOADED), p.CELERY_CONFIG == dict(d.DEFAULT_CELERY_CONFIG))"
    )
    assert _run(code) == "True True"
    assert "great_expectations" in PRELOADED


def test_the_scheduler_reading_the_same_config_does_not_preload():
    code = (
        "import sys; sys.argv = ['airflow', 'scheduler'];"
        "import airflow.providers.celery.executors.default_celery;"
        "import etl.quality.preload as p;"
        "print('great_expectations' in sys.modules, bool(p.CELERY_CONFIG))"
    )
    assert _run(code) == "False True"


_EXECUTOR = (
    "import sys, multiprocessing;"
    "multiprocessing.set_start_method(sys.argv[1]);"
    "from airflow.executors.local_executor import LocalExecutor;"
    "import etl.quality.local_executor as m; from etl.quality.preload import PRELOADED;"
    "loaded = 'great_expectations' in sys.modules;"
    "LocalExecutor.start = lambda self: print(loaded, all(n in sys.modules for n in PRELOADED));"
    "m.PreloadingLocalExecutor(parallelism=1).start()"
)


def test_the_local_executor_preloads_before_it_forks_its_workers():
    """Importing the class (the API server, the DAG processor do) loads nothing; `start()` (the scheduler's) imports
    GX before LocalExecutor.start forks the workers, whose forks run the tasks."""
    assert _run(_EXECUTOR, "fork") == "False True"


def test_the_local_executor_does_not_preload_when_nothing_is_inherited():
    assert _run(_EXECUTOR, "spawn") == "False False"
