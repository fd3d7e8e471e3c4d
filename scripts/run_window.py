"""Run claims_daily through Airflow itself for a range of days, in one process (dag.test per day).

Used by `make demo` and the end-to-end tests: each day is a real DAG run recorded in Airflow's
metadata database (so `make airflow` shows them), with every task executed in order.
Usage: python scripts/run_window.py [FIRST [LAST]]   (default: the program's intake window)
       python scripts/run_window.py --to-close [FIRST [LAST]]  (the window, then every settlement day that
                                      has inbox files, then the close date: the program's life, or part of it)
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

DAGS = Path(__file__).resolve().parent.parent / "dags"


def main(argv: list[str]) -> int:
    import pendulum
    from airflow.dag_processing.dagbag import DagBag

    from etl.core.config import load_program
    from etl.core.settings import Settings
    from etl.ledger.days import has_inputs

    program = load_program()
    to_close = argv[:1] == ["--to-close"]
    argv = argv[1:] if to_close else argv
    first = dt.date.fromisoformat(argv[0]) if argv else program.intake_first_day
    last = dt.date.fromisoformat(argv[1]) if len(argv) > 1 else (first if argv else program.intake_last_day)
    last = (dt.date.fromisoformat(argv[1]) if len(argv) > 1 else program.close_date) if to_close else last
    inbox = Settings.resolve().inbox
    bag = DagBag(dag_folder=str(DAGS / "claims_daily.py"))
    if bag.import_errors:
        print(bag.import_errors, file=sys.stderr)
        return 1
    dag = bag.get_dag("claims_daily")
    # Airflow 3.3.2's dag.test() cannot run a DAG that has a deadline alert (DagRun.update_state looks the
    # deadline up by id, and dag.test's copy of the DAG holds the alert itself: "'dict' object has no
    # attribute 'hex'"). Deadlines are the scheduler's business; these runs are not scheduled: drop it here.
    dag.deadline = None
    day = first
    while day <= last:
        if to_close and not (program.in_window(day) or has_inputs(inbox, day) or day == program.close_date):
            day += dt.timedelta(days=1)  # a settlement day without files: its run would only skip
            continue
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
