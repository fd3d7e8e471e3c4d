"""Fixtures for the DAG tests: parsing DAG files with Airflow, and running claims_daily through Airflow.

* `dag_bag_of(path)`: the DagBag of one DAG file, parsed in this process (no metadata database needed).
* `airflow_db` (session): an Airflow metadata database, migrated once (`airflow db migrate`, ~5 s).
* `AirflowHome` / `airflow_home`: a fresh AIRFLOW_HOME holding a copy of that database, so every test
  starts with no DAG runs. A shared home would leak run history from test to test: with
  `depends_on_past`, a failed day followed by a later day makes `dag.test` wait for ever.
* `AirflowHome.run_window(first, last)`: `scripts/run_window.py` in a subprocess (`dag.test` per day),
  with RELIEF_INBOX/RELIEF_OUTBOX/RELIEF_DB_URL pointing at a test `Workspace`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
RUN_WINDOW = REPO / "scripts" / "run_window.py"
_DAY_LINE = re.compile(r"^claims_daily (\d{4}-\d{2}-\d{2}): (\S+) in ", re.MULTILINE)


def dag_files() -> list[Path]:
    """Every DAG file of dags/ (helper modules would start with an underscore)."""
    return sorted(p for p in DAGS.glob("*.py") if not p.name.startswith(("_", ".")))


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of an Airflow subprocess: this home, these DAGs, nothing from the developer's Airflow."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__") and k != "AIRFLOW_CONFIG"}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        GX_ANALYTICS_ENABLED="False",
        # The in-process execution API is reached over HTTP: never through a proxy.
        NO_PROXY="*",
        no_proxy="*",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    env.update(extra)
    return env


def run_process(cmd: list[str], env: dict[str, str], timeout: float, cwd: Path = REPO) -> tuple[int, str, str, float]:
    """Run a command in its own process group; on timeout kill that group (and only it) and fail the test."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(
            f"{' '.join(cmd[1:])} still running after {timeout:.0f}s (a sensor waiting for a file, a retry delay or"
            f" a task blocked by depends_on_past?); last output:\n{(out + err)[-3000:]}"
        )
    return proc.returncode, out, err, time.perf_counter() - started


# ---------------------------------------------------------------------------------------------
# parsing DAG files in this process


@pytest.fixture(scope="session")
def airflow_parse_env(tmp_path_factory):
    """Point Airflow at a throw-away home before it is first imported here (it writes airflow.cfg there)."""
    home = tmp_path_factory.mktemp("airflow-parse")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_HOME", str(home))
        mp.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS))
        mp.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        mp.setenv("GX_ANALYTICS_ENABLED", "False")
        yield home


@pytest.fixture(scope="session")
def dag_bag_of(airflow_parse_env):
    """`dag_bag_of(path)`: the DagBag of that one file, parsed once per session."""
    bags = {}

    def load(path: Path):
        from airflow.dag_processing.dagbag import DagBag

        path = Path(path).resolve()
        if path not in bags:
            # safe_mode=False: parse the file even if it does not mention "dag" (then it fails the policy).
            bags[path] = DagBag(dag_folder=str(path), safe_mode=False)
        return bags[path]

    return load


# ---------------------------------------------------------------------------------------------
# running DAGs through Airflow


@pytest.fixture(scope="session")
def airflow_db(tmp_path_factory) -> Path:
    """A migrated Airflow metadata database (SQLite), made once per session; tests use copies of it."""
    home = tmp_path_factory.mktemp("airflow-template")
    code, out, err, _ = run_process([sys.executable, "-m", "airflow", "db", "migrate"], airflow_env(home), timeout=300)
    assert code == 0, f"airflow db migrate failed ({code}):\n{(out + err)[-3000:]}"
    db = home / "airflow.db"
    assert db.is_file(), f"airflow db migrate made no {db}"
    return db


@dataclass
class WindowRun:
    """What one `scripts/run_window.py` subprocess did."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def states(self) -> dict[str, str]:
        """The final state of each day's DAG run, as run_window.py reports it: {'2022-10-15': 'success'}."""
        return dict(_DAY_LINE.findall(self.stdout))

    def tail(self, n: int = 4000) -> str:
        return self.output[-n:]


class AirflowHome:
    """An AIRFLOW_HOME with its own copy of the migrated metadata database, bound to a test Workspace."""

    def __init__(self, home: Path, template_db: Path, ws):
        self.home = home
        self.ws = ws
        self.extra_env: dict[str, str] = {}  # e.g. RELIEF_PROGRAM for a test program config
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template_db, home / "airflow.db")

    def set_retries(self, retries: int) -> None:
        """Override every task's `retries` with an Airflow cluster policy (airflow_local_settings.py).

        For failure tests: the DAG's own retries wait `retry_delay` (minutes) between tries, and
        `dag.test` sits through them.
        """
        config = self.home / "config"
        config.mkdir(exist_ok=True)
        (config / "airflow_local_settings.py").write_text(
            f"def task_policy(task):\n    task.retries = {int(retries)}\n", encoding="utf-8"
        )

    def env(self) -> dict[str, str]:
        s = self.ws.settings
        return airflow_env(
            self.home,
            RELIEF_INBOX=str(s.inbox),
            RELIEF_OUTBOX=str(s.outbox),
            RELIEF_DB_URL=s.db_url,
            **self.extra_env,
        )

    def run_window(self, first: str, last: str | None = None, timeout: float | None = None) -> WindowRun:
        """`scripts/run_window.py FIRST LAST`: one real DAG run per day, in order, stopping at a failed day."""
        days = 1 if last is None else (dt.date.fromisoformat(last) - dt.date.fromisoformat(first)).days + 1
        cmd = [sys.executable, str(RUN_WINDOW), first] + ([last] if last else [])
        code, out, err, seconds = run_process(cmd, self.env(), timeout=timeout or 90 + 60 * days)
        return WindowRun(code, out, err, seconds)


@pytest.fixture
def airflow_home(tmp_path, airflow_db, ws) -> AirflowHome:
    """A fresh AIRFLOW_HOME (no DAG runs yet) over the test's workspace `ws`."""
    return AirflowHome(tmp_path / "airflow", airflow_db, ws)


# ---------------------------------------------------------------------------------------------
# local alert receivers: an SMTP server (aiosmtpd) and a webhook (http.server), on 127.0.0.1 only


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    """What a local receiver got: the raw messages (email text, or webhook JSON bodies), in order."""

    address: str
    messages: list

    def wait_for(self, predicate, timeout: float = 30.0):
        """The first message for which predicate(message) is true, waiting up to timeout seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in list(self.messages):
                if predicate(m):
                    return m
            time.sleep(0.2)
        raise AssertionError(
            f"no matching message within {timeout:.0f}s; got {len(self.messages)}: {self.messages!r:.2000}"
        )


@pytest.fixture
def smtp_receiver():
    """An SMTP server on 127.0.0.1 (aiosmtpd); `.address` is host:port, `.messages` the emails decoded as
    "Subject: ...\nFrom: ...\nTo: ...\n\nbody"."""
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller

    received = Received("", [])

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            msg = message_from_bytes(envelope.content, policy=policy.default)
            received.messages.append(
                f"Subject: {msg['subject']}\nFrom: {msg['from']}\nTo: {msg['to']}\n\n{msg.get_content()}"
            )
            return "250 Message accepted for delivery"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    received.address = f"127.0.0.1:{port}"
    try:
        yield received
    finally:
        controller.stop()


@pytest.fixture
def webhook_receiver():
    """An HTTP server on 127.0.0.1 taking JSON POSTs; `.address` is its URL, `.messages` the decoded bodies."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received = Received("", [])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                received.messages.append(json.loads(body))
            except ValueError:
                received.messages.append({"unparsed": body.decode("utf-8", errors="replace")})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    received.address = f"http://127.0.0.1:{server.server_address[1]}/hooks/relief-T0KEN"
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
