"""`relief sidecar-server`: each `relief` process of the same code gets a warm sidecar forked from it, in the caller's
environment; without a usable server a sidecar is spawned as before."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import etl.core.sidecar
from etl.core import sidecar_server
from etl.core.sidecar import Sidecar
from etl.core.sidecar_server import ServerError
from tests.builders import claim
from tests.conftest import REPO


def start_server(folder: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, sidecar_server.ENV_DIR: folder}
    log = open(Path(folder) / "server.log", "ab")  # noqa: SIM115 - the server's own stream, closed with it
    return subprocess.Popen(
        [sys.executable, "-m", "etl.cli", "sidecar-server", *args], cwd=REPO, env=env, stdout=log, stderr=log
    )


def wait_until(predicate, seconds: float = 90.0) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(scope="module")
def server():
    """A running server (the real command, with the real preload) in a private folder of its own."""
    folder = tempfile.mkdtemp(prefix="rss-")  # short: a Unix socket's path has at most 107 bytes
    ready = Path(folder) / "ready"
    proc = start_server(folder, "--idle", "0", "--ready-file", str(ready))
    try:
        assert wait_until(lambda: ready.exists() or proc.poll() is not None), "the server did not start"
        assert proc.poll() is None, (Path(folder) / "server.log").read_text()
        yield folder, Path(ready.read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert not any(Path(folder).glob("*.sock"))  # it removes its socket when it stops
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def served(server, monkeypatch):
    monkeypatch.setenv(sidecar_server.ENV_DIR, server[0])
    return server


def no_spawn(*args, **kwargs):
    raise AssertionError("a sidecar was spawned although the server was there")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def getenv(name: str) -> str | None:
    return os.environ.get(name)


def loaded(name: str) -> bool:
    return name in sys.modules


def sleep_long() -> None:
    time.sleep(60)


def test_a_sidecar_comes_warm_from_the_server_in_the_callers_environment(served, monkeypatch, tmp_path, capfd):
    monkeypatch.setattr(etl.core.sidecar.multiprocessing, "get_context", no_spawn)
    monkeypatch.setenv("RELIEF_SIDECAR_TEST_VALUE", "the caller's")
    monkeypatch.chdir(tmp_path)
    with Sidecar(["colorsys"]) as side:
        assert side.alive and side._proc is None
        pid = side.call(os.getpid)
        assert pid == side._warm_pid and pid != os.getpid()
        assert side.call(loaded, "great_expectations") is True  # imported once, by the server
        assert side.call(getenv, "RELIEF_SIDECAR_TEST_VALUE") == "the caller's"
        assert side.call(os.getcwd) == str(tmp_path)
        side.call(say, "said by the warm sidecar")
    assert "said by the warm sidecar" in capfd.readouterr().err  # on this process's stderr, not the server's
    assert wait_until(lambda: gone(pid), 10)  # told to stop, it stops


def test_run_days_with_a_server_validates_and_draws_in_a_warm_sidecar(served, ws, program, monkeypatch):
    from etl.daily import run_days

    monkeypatch.setattr(etl.core.sidecar.multiprocessing, "get_context", no_spawn)
    ws.deliver("2022-10-15", [claim(receipt_no="R1")])
    [result] = run_days(ws.settings, program, dt.date(2022, 10, 15), dt.date(2022, 10, 15), validate=True)
    assert (result["payments"], result["control_sum_krw"]) == (1, 30_000)
    with ws.wh.begin() as conn:
        results = conn.exec_driver_sql("select suite, success from validation_results order by suite").fetchall()
    assert [tuple(r) for r in results] == [("claims_staged", 1), ("payments_batch", 1)]
    html = (ws.settings.outbox / "reports" / "finance" / "2022-10-15" / "finance.html").read_text(encoding="utf-8")
    assert html.count("data:image/svg+xml;base64,") == 4


def test_a_server_of_other_code_is_not_used(served, monkeypatch):
    monkeypatch.setattr(sidecar_server, "code_fingerprint", lambda: "0123456789abcdef")
    with Sidecar(["colorsys"]) as side:
        assert side._proc is not None and side._warm_pid is None  # spawned, as without a server


def test_a_folder_others_may_enter_is_not_used(monkeypatch, caplog):
    folder = Path(tempfile.mkdtemp(prefix="rss-"))
    try:
        monkeypatch.setenv(sidecar_server.ENV_DIR, str(folder))
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(sidecar_server.socket_path()))
        listener.listen(1)  # someone listens where a server would: nobody should connect to it
        folder.chmod(0o755)
        assert sidecar_server.connect(["colorsys"], 20, "%(message)s") is None
        assert "is not a private directory of this user's" in caplog.text
        with pytest.raises(ServerError, match="not a private directory"):
            sidecar_server.serve_forever([])
        listener.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_stale_socket_means_a_spawned_sidecar_and_a_new_server_replaces_it(monkeypatch):
    folder = Path(tempfile.mkdtemp(prefix="rss-"))
    try:
        monkeypatch.setenv(sidecar_server.ENV_DIR, str(folder))
        path = sidecar_server.socket_path()
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(str(path))  # what a killed server leaves: the file, nobody listening
        stale.close()
        with Sidecar(["colorsys"]) as side:
            assert side._proc is not None and side.call(divmod, 7, 2) == (3, 1)
        listener = sidecar_server._listen(path)
        listener.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_second_server_of_the_same_code_refuses(served):
    proc = start_server(served[0], "--idle", "1")
    assert proc.wait(timeout=120) == 1
    assert "a sidecar server of this code already listens at" in (Path(served[0]) / "server.log").read_text()
    assert served[1].exists()  # the first one's socket is left alone


def test_a_busy_warm_sidecar_is_stopped_when_its_caller_closes_it(served):
    side = Sidecar(["colorsys"])
    pid = side._warm_pid
    assert pid is not None
    pending = side.submit(sleep_long)
    with pytest.raises(TimeoutError):
        pending(timeout=0.2)
    side.close()  # what compute does at its wait limit
    assert wait_until(lambda: gone(pid), 10)


def test_a_warm_sidecar_whose_caller_vanishes_stops(served):
    side = Sidecar(["colorsys"])
    pid = side._warm_pid
    assert pid is not None and side.call(os.getpid) == pid
    side._conn.close()  # as when the caller is killed: no goodbye, only the socket's end
    assert wait_until(lambda: gone(pid), 10)


def test_an_idle_server_stops_and_removes_its_socket():
    folder = tempfile.mkdtemp(prefix="rss-")
    try:
        code = (
            "import sys; from etl.core.sidecar_server import serve_forever;"
            " sys.exit(serve_forever(['colorsys'], idle_s=1.0, ready=sys.argv[1]))"
        )
        ready = Path(folder) / "ready"
        env = {**os.environ, sidecar_server.ENV_DIR: folder}
        proc = subprocess.run([sys.executable, "-c", code, str(ready)], cwd=REPO, env=env, timeout=60)
        assert proc.returncode == 0  # no caller served
        assert ready.exists() and not Path(ready.read_text()).exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
