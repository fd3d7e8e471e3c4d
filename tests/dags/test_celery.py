"""The distributed path: Airflow with the CeleryExecutor, PostgreSQL and Redis, as `make airflow-celery` runs it.

`scripts/airflow_celery.sh --workers 2` starts the api-server, scheduler, dag-processor and two Celery workers
(worker1@HOST, worker2@HOST) on a throw-away metadata database and warehouse database in the local PostgreSQL,
a Redis database other than 0 as the broker, and a temporary AIRFLOW_HOME. Then, through the scheduler and the
workers (no dag.test):

* `claims_daily` is unpaused with the inbox of three days (the generator at scale 0.01, days after 2022-10-17
  removed): its catchup runs 2022-10-15, 16 and 17 one after the other and publishes them; the 18th's run then
  waits for its file (it is left waiting);
* `grants_rollout` is unpaused: its one run (2023-01-05) plans a 200,000-user directory into four shards, builds
  them as mapped tasks and publishes the grants manifest.

It checks the outbox (day and payment manifests, the grants manifest and its parts), the warehouse in
PostgreSQL, and that both workers ran tasks (`task_instance.hostname` is the worker's name: the script sets
`core.hostname_callable` to scripts/celery_check.py's `worker_hostname`). Everything it started is stopped
(its process group, SIGKILL after a grace period or on timeout; no process with its AIRFLOW_HOME may remain),
the databases are dropped and the Redis database flushed. Budget: 6 minutes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import DEMO_PROGRAM, PG_URL
from tests.dags.conftest import REPO, run_process

pytestmark = [pytest.mark.airflow, pytest.mark.celery, pytest.mark.postgres]

SCRIPT = REPO / "scripts" / "airflow_celery.sh"
BIN = Path(sys.executable).parent
BUDGET_S = 360.0
STOP_GRACE_S = 45.0
DAYS = [dt.date(2022, 10, 15), dt.date(2022, 10, 16), dt.date(2022, 10, 17)]
ROLLOUT_DAY = "2023-01-05"
USERS = 200_000
# Four shards. The plan sizes shards from an estimate of the directory's rows taken from its first MiB
# (200,159 for this file), so RELIEF_SHARD_SIZE=50000 would give five; 55,000 gives four.
SHARD_SIZE = 55_000
SHARDS = 4
REDIS_URL = os.environ.get("RELIEF_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def _free_port(pair: bool = False) -> int:
    """A free TCP port on 127.0.0.1 (with pair=True, one whose next port is free too)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not pair:
            return port
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of ports")


def _leftovers(home: Path) -> list[tuple[int, str]]:
    """Processes whose environment names this test's AIRFLOW_HOME: what it started and has not stopped."""
    marker = f"AIRFLOW_HOME={home}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
                found.append((int(proc.name), cmd))
        except OSError:
            continue
    return found


def _tails(home: Path, n: int = 2500) -> str:
    parts = []
    for name in ("script.log", "scheduler.log", "worker1.log", "worker2.log", "dag-processor.log", "api-server.log"):
        path = home.parent / name if name == "script.log" else home / name
        if path.is_file():
            parts.append(f"--- {name}\n{path.read_text(errors='replace')[-n:]}")
    return "\n".join(parts)


class Cluster:
    """The script's processes (one process group) and the throw-away databases, with the test's deadline."""

    def __init__(self, tmp: Path):
        import psycopg
        import redis
        import sqlalchemy as sa

        self.started = time.monotonic()
        self.tmp = tmp
        self.home = tmp / "airflow"
        self.inbox, self.outbox = tmp / "inbox", tmp / "outbox"
        url = sa.engine.make_url(PG_URL)
        self.pg = {"host": url.host or "127.0.0.1", "port": url.port or 5432, "user": url.username or "postgres"}
        if url.password:
            self.pg["password"] = url.password
        server = f"{url.drivername}://{url.username or 'postgres'}"
        server += f":{quote(url.password, safe='')}" if url.password else ""
        server += f"@{self.pg['host']}:{self.pg['port']}"
        token = uuid.uuid4().hex[:10]
        self.airflow_db, self.warehouse_db = f"relief_ci_{token}", f"relief_ci_{token}_wh"
        try:
            self.admin = psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **self.pg)
        except psycopg.Error as exc:  # pragma: no cover - depends on the machine
            pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
        self.redis = None
        try:
            for db in random.sample(range(1, 16), 15):  # a database of our own: empty, not 0
                client = redis.Redis.from_url(f"{REDIS_URL}/{db}", socket_timeout=5)
                if client.dbsize() == 0:
                    self.redis, self.redis_db = client, db
                    break
        except redis.RedisError as exc:  # pragma: no cover - depends on the machine
            pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
        if self.redis is None:  # pragma: no cover
            pytest.skip("no empty Redis database among 1..15")
        for db in (self.airflow_db, self.warehouse_db):
            self.admin.execute(f"create database {db}")
        self.port = _free_port()
        # The session's environment (RELIEF_SEAL_KEY, from tests/conftest.py, included) less any Airflow
        # setting and any other warehouse: the script derives those from the overrides below.
        drop = ("RELIEF_CELERY_DB_URL", "RELIEF_DB_URL", "RELIEF_VAR")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k not in drop}
        self.env.update(
            PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
            RELIEF_PG=server,
            RELIEF_AIRFLOW_DB=self.airflow_db,
            RELIEF_WAREHOUSE_DB=self.warehouse_db,
            RELIEF_REDIS=f"{REDIS_URL}/{self.redis_db}",
            RELIEF_CELERY_HOME=str(self.home),
            RELIEF_LOG_PORT=str(_free_port(pair=True)),
            RELIEF_READY_TIMEOUT="150",
            RELIEF_INBOX=str(self.inbox),
            RELIEF_OUTBOX=str(self.outbox),
            RELIEF_PROGRAM=str(DEMO_PROGRAM),
            RELIEF_SHARD_SIZE=str(SHARD_SIZE),
            GX_ANALYTICS_ENABLED="False",
            NO_PROXY="*",
            no_proxy="*",
        )
        self.proc: subprocess.Popen | None = None
        self.log = tmp / "script.log"

    # -- time

    def remaining(self) -> float:
        return BUDGET_S - 20 - (time.monotonic() - self.started)  # 20 s kept for stopping and dropping

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    # -- processes

    def start(self) -> dict:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                ["bash", str(SCRIPT), "--workers", "2", "--concurrency", "1", "--port", str(self.port)],
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as one
            )
        while self.remaining() > 0:
            text = self.log.read_text(errors="replace")
            for line in text.splitlines():
                if line.startswith("ready: "):
                    return json.loads(line.removeprefix("ready: "))
            if self.proc.poll() is not None:
                pytest.fail(f"airflow_celery.sh exited ({self.proc.returncode}) before ready:\n{_tails(self.home)}")
            time.sleep(1)
        pytest.fail(f"not ready in time:\n{_tails(self.home)}")

    def airflow(self, *args: str) -> str:
        """An `airflow` CLI command with the script's environment (it writes it to AIRFLOW_HOME/airflow.env)."""
        env = dict(self.env)
        env_file = self.home / "airflow.env"
        dump = subprocess.run(
            ["bash", "-c", 'set -a; . "$1"; env -0', "-", str(env_file)],
            env=self.env,
            capture_output=True,
            check=True,
        ).stdout
        env.update(line.split("=", 1) for line in dump.decode().split("\0") if "=" in line)
        code, out, err, _ = run_process([str(BIN / "airflow"), *args], env, timeout=min(120, self.remaining()))
        assert code == 0, f"airflow {' '.join(args)} failed ({code}):\n{(out + err)[-3000:]}"
        return out

    def stop(self) -> None:
        """SIGTERM to the script's process group; SIGKILL to it after the grace period."""
        if self.proc is None or (self.proc.poll() is not None and not _leftovers(self.home)):
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and (self.proc.poll() is None or _leftovers(self.home)):
            time.sleep(0.5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def drop(self) -> None:
        for db in (self.airflow_db, self.warehouse_db):
            with contextlib.suppress(Exception):
                self.admin.execute(f"drop database if exists {db} with (force)")
        self.admin.close()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                self.redis.flushdb()
            self.redis.close()

    # -- the metadata database

    def query(self, sql: str, *params) -> list[tuple]:
        import psycopg

        with psycopg.connect(dbname=self.airflow_db, connect_timeout=5, **self.pg) as conn:
            return conn.execute(sql, params).fetchall()

    def runs(self, dag_id: str) -> dict[dt.date, str]:
        rows = self.query(
            "select (logical_date at time zone 'Asia/Seoul')::date, state from dag_run where dag_id = %s", dag_id
        )
        return dict(rows)

    def wait_runs(self, dag_id: str, days: list[dt.date]) -> None:
        runs: dict[dt.date, str] = {}
        while self.remaining() > 0:
            runs = self.runs(dag_id)
            failed = [d for d in days if runs.get(d) == "failed"]
            if failed:
                pytest.fail(f"{dag_id} {failed} failed: {self.task_states(dag_id)}\n{_tails(self.home)}")
            if all(runs.get(d) == "success" for d in days):
                return
            if self.proc.poll() is not None:
                pytest.fail(f"airflow_celery.sh exited ({self.proc.returncode}):\n{_tails(self.home)}")
            time.sleep(2)
        pytest.fail(
            f"{dag_id}: runs {runs} after {self.elapsed():.0f}s\n{self.task_states(dag_id)}\n{_tails(self.home)}"
        )

    def task_states(self, dag_id: str) -> list[tuple]:
        return self.query(
            "select run_id, task_id, map_index, state, hostname from task_instance where dag_id = %s"
            " order by start_date nulls last",
            dag_id,
        )


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    left: list[tuple[int, str]] = []
    try:
        yield c
    finally:
        try:
            c.stop()
            left = _leftovers(c.home)
            for pid, _ in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        finally:
            c.drop()
            print(f"\ntest_celery: {c.elapsed():.1f}s in all, stopping and dropping included (budget {BUDGET_S:.0f}s)")
    assert not left, f"processes left running after the stop (killed now): {left}"


def _relief(cluster: Cluster, *args: str) -> dict:
    code, out, err, _ = run_process([str(BIN / "relief"), *args], cluster.env, timeout=120)
    assert code == 0, f"relief {' '.join(args)} failed ({code}):\n{err[-3000:]}"
    return json.loads(out)


def test_claims_and_rollout_on_two_celery_workers(cluster):
    # The inbox: the calibrated generator at scale 0.01, three days of it; a 200,000-user directory.
    _relief(cluster, "generate", "claims", "--scale", "0.01", "--seed", "1015", "--inbox", str(cluster.inbox))
    for f in cluster.inbox.glob("claims_*.csv"):
        if dt.datetime.strptime(f.stem.removeprefix("claims_"), "%Y%m%d").date() > DAYS[-1]:
            f.unlink()
    users = _relief(
        cluster, "generate", "users", "--users", str(USERS), "--seed", "1015", "--inbox", str(cluster.inbox)
    )
    assert users["users"] == USERS

    ready = cluster.start()
    assert len(ready["workers"]) == 2 and {w.split("@")[0] for w in ready["workers"]} == {"worker1", "worker2"}
    ready_at = cluster.elapsed()

    # claims_daily: its catchup runs the days in order (max_active_runs=1); three have files.
    cluster.airflow("dags", "unpause", "claims_daily")
    cluster.wait_runs("claims_daily", DAYS[:1])
    # grants_rollout: its single event (2023-01-05) is in the past: unpausing runs it once. Started once the
    # first day is published (the warehouse's schema is there: the budget report reads the cash paid so far),
    # it runs beside the next two days.
    cluster.airflow("dags", "unpause", "grants_rollout")
    cluster.wait_runs("claims_daily", DAYS)
    claims_at = cluster.elapsed()
    cluster.wait_runs("grants_rollout", [dt.date.fromisoformat(ROLLOUT_DAY)])
    rollout_at = cluster.elapsed()

    # The outbox: each day complete (its day manifest), its payment batch published.
    for day in DAYS:
        day_manifest = json.loads((cluster.outbox / "days" / day.isoformat() / "manifest.json").read_text())
        assert day_manifest["run_date"] == day.isoformat()
        payments = json.loads((cluster.outbox / "payments" / day.isoformat() / "manifest.json").read_text())
        assert payments["run_date"] == day.isoformat()
        assert payments["approved_by"], payments
    grants = cluster.outbox / "grants" / ROLLOUT_DAY
    manifest = json.loads((grants / "manifest.json").read_text())
    assert [s["file"] for s in manifest["shards"]] == [f"part-{i:05d}.csv" for i in range(SHARDS)]
    assert sorted(p.name for p in grants.glob("part-*.csv")) == [f"part-{i:05d}.csv" for i in range(SHARDS)]
    assert sum(s["rows"] for s in manifest["shards"]) == manifest["counts"]["eligible"] == users["eligible"]
    assert manifest["counts"]["rows_received"] == USERS

    # The warehouse is the PostgreSQL database, not a file.
    import psycopg

    with psycopg.connect(dbname=cluster.warehouse_db, connect_timeout=5, **cluster.pg) as conn:
        tables = conn.execute("select count(*) from information_schema.tables where table_schema = 'public'").fetchone()
    assert tables[0] > 0
    assert not list(cluster.tmp.rglob("*.sqlite"))

    # Both workers ran tasks: task_instance.hostname is the Celery worker's name.
    ran = cluster.query(
        "select hostname, dag_id, task_id, map_index from task_instance where state = 'success' order by start_date"
    )
    by_worker: dict[str, list[str]] = {}
    for host, dag_id, task_id, map_index in ran:
        name = f"{dag_id}.{task_id}" + (f"[{map_index}]" if map_index >= 0 else "")
        by_worker.setdefault(host or "(none)", []).append(name)
    workers = {host.split("@")[0] for host in by_worker}
    assert {"worker1", "worker2"} <= workers, f"tasks by host: {by_worker}"
    assert workers <= {"worker1", "worker2"}, f"a task ran elsewhere: {by_worker}"
    shards = sum(1 for _, dag_id, task_id, _ in ran if (dag_id, task_id) == ("grants_rollout", "build_shard"))
    assert shards == SHARDS

    # The workers preloaded Great Expectations (etl/quality/preload.py): no validation task imported it.
    validations = sorted((cluster.home / "logs").rglob("task_id=validate_*/attempt=*.log"))
    words = ("preloaded by the worker", "imported in")
    said = [next((w for w in words if w in log.read_text()), "") for log in validations]
    assert len(validations) == 6 and set(said) == {"preloaded by the worker"}, list(zip(validations, said))

    migrated = next((ln for ln in cluster.log.read_text().splitlines() if " migrated (" in ln), "")
    print(
        f"\ntest_celery: metadata migrated in {migrated.rpartition('(')[2].rstrip(')')}, ready {ready_at:.0f}s"
        f" ({', '.join(ready['workers'])}), 3 claims_daily days done {claims_at:.0f}s,"
        f" grants_rollout done {rollout_at:.0f}s"
    )
    for host, tasks in sorted(by_worker.items()):
        print(f"  {host}: {len(tasks)} tasks: {', '.join(tasks)}")
    assert cluster.elapsed() < BUDGET_S
