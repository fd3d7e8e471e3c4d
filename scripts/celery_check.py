"""Checks for Airflow on Celery (scripts/airflow_celery.sh), and the hostname each task instance records.

    python scripts/celery_check.py wait --api http://127.0.0.1:8080 --workers 2 [--dags claims_daily ...]
        until the api-server answers, its health says the metadata database, the scheduler and the
        dag-processor are healthy, N Celery workers answer a ping on the broker, and the DAGs are parsed;
        then prints one line "ready: {...}" (exit 0), or the last thing that was missing (exit 1).
    python scripts/celery_check.py tasks [--dag-id claims_daily]
        the task instances in the metadata database, counted by hostname and state (JSON).

Both read the same environment as the Airflow processes (AIRFLOW__CELERY__BROKER_URL,
AIRFLOW__DATABASE__SQL_ALCHEMY_CONN). `worker_hostname` is Airflow's `core.hostname_callable` in
airflow_celery.sh: inside a Celery task it is that worker's node name (worker1@HOST), so two workers
on one machine are told apart in task_instance.hostname; anywhere else, the machine's name as before.
This module imports only the standard library at the top: every Airflow process imports it.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
import urllib.request


def worker_hostname() -> str:
    """The Celery worker's node name inside a Celery task (and the task process it forks), else the FQDN."""
    if "celery" in sys.modules:
        try:
            from celery import current_task

            name = current_task.request.hostname if current_task else None
            if name:
                return str(name)
        except Exception:  # never fail a task over its hostname
            pass
    return socket.getfqdn()


def _health(api: str) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(f"{api.rstrip('/')}/api/v2/monitor/health", timeout=5) as resp:
            health = json.load(resp)
    except Exception as exc:
        return False, f"api-server: {type(exc).__name__}: {exc}"
    parts = {name: (health.get(name) or {}).get("status") for name in ("metadatabase", "scheduler", "dag_processor")}
    unhealthy = {name: status for name, status in parts.items() if status != "healthy"}
    return not unhealthy, f"health: {unhealthy}" if unhealthy else "healthy"


def _workers(broker: str) -> list[str]:
    from celery import Celery

    app = Celery("relief-celery-check", broker=broker)
    try:
        replies = app.control.ping(timeout=2.0) or []
    finally:
        app.close()
    return sorted(name for reply in replies for name in reply)


def _parsed_dags(dags: list[str]) -> list[str]:
    if not dags:
        return []
    import sqlalchemy as sa

    engine = sa.create_engine(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("select distinct dag_id from serialized_dag where dag_id in :ids").bindparams(
                    sa.bindparam("ids", expanding=True)
                ),
                {"ids": dags},
            )
            return sorted(row[0] for row in rows)
    except Exception:
        return []
    finally:
        engine.dispose()


def wait(api: str, workers: int, dags: list[str], timeout: float) -> int:
    broker = os.environ["AIRFLOW__CELERY__BROKER_URL"]
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    missing = "nothing checked yet"
    while time.monotonic() < deadline:
        ok, detail = _health(api)
        if not ok:
            missing = detail
        else:
            names = _workers(broker)
            parsed = _parsed_dags(dags)
            if len(names) < workers:
                missing = f"{len(names)} of {workers} Celery workers answer ({', '.join(names) or 'none'})"
            elif len(parsed) < len(dags):
                missing = f"DAGs not parsed yet: {sorted(set(dags) - set(parsed))}"
            else:
                ready = {"api": api, "workers": names, "dags": parsed, "seconds": round(time.monotonic() - started, 1)}
                print(f"ready: {json.dumps(ready)}", flush=True)
                return 0
        time.sleep(1)
    print(f"not ready after {timeout:.0f}s: {missing}", file=sys.stderr)
    return 1


def tasks(dag_id: str | None) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    query = "select coalesce(hostname, ''), state, count(*) from task_instance"
    query += " where dag_id = :dag_id" if dag_id else ""
    query += " group by 1, 2 order by 1, 2"
    counts: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for host, state, n in conn.execute(sa.text(query), {"dag_id": dag_id} if dag_id else {}):
            counts.setdefault(host or "(none)", {})[state or "none"] = n
    engine.dispose()
    print(json.dumps(counts, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("wait", help="wait until the api-server, scheduler, dag-processor and N workers answer")
    w.add_argument("--api", default="http://127.0.0.1:8080")
    w.add_argument("--workers", type=int, default=1)
    w.add_argument("--dags", nargs="*", default=[])
    w.add_argument("--timeout", type=float, default=180)
    t = sub.add_parser("tasks", help="task instances by hostname and state")
    t.add_argument("--dag-id")
    args = parser.parse_args(argv)
    if args.command == "wait":
        return wait(args.api, args.workers, args.dags, args.timeout)
    return tasks(args.dag_id)


if __name__ == "__main__":
    sys.exit(main())
