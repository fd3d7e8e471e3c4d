"""Run claims_daily through Airflow itself for a range of days, in one process (dag.test per day).

Used by `make demo` and the end-to-end tests: each day is a real DAG run recorded in Airflow's
metadata database (so `make airflow` shows them), with every task executed in order.
Usage: python scripts/run_window.py [FIRST [LAST]]   (default: the program's intake window)
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

DAGS = Path(__file__).resolve().parent.parent / "dags"


def main(argv: list[str]) -> int:
    from airflow.dag_processing.dagbag import DagBag  # noqa: PLC0415 - heavy, only when run
    import pendulum

    from etl.core.config import load_program

    program = load_program()
    first = dt.date.fromisoformat(argv[0]) if argv else program.intake_first_day
    last = dt.date.fromisoformat(argv[1]) if len(argv) > 1 else (first if argv else program.intake_last_day)
    sys.path.insert(0, str(DAGS))  # as Airflow's bundle DagBag does: DAG files import dags/_relief.py
    bag = DagBag(dag_folder=str(DAGS / "claims_daily.py"))
    if bag.import_errors:
        print(bag.import_errors, file=sys.stderr)
        return 1
    dag = bag.get_dag("claims_daily")
    day = first
    while day <= last:
        started = time.perf_counter()
        run = dag.test(logical_date=pendulum.datetime(day.year, day.month, day.day, tz=program.timezone))
        state = str(getattr(run, "state", run))
        print(f"claims_daily {day}: {state} in {time.perf_counter() - started:.1f}s", flush=True)
        if "success" not in state:
            return 1
        day += dt.timedelta(days=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
