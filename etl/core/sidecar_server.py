"""A warm sidecar server: one process that has imported the heavy modules, forking a ready sidecar per `relief` call.

A `relief run-day` per day (a backfill from a shell loop, the benchmark's per-day mode) starts its sidecar afresh
each time, and on a small day most of that process's time is the sidecar's import of Great Expectations (3-4 s).
`relief sidecar-server` imports those modules once, listens on a Unix socket, and for each `relief` process that
connects forks a child that is already warm. The child takes the caller's environment, working directory, import
path, log level, stdout and stderr (passed over the socket), then serves the same calls the same way as a spawned
sidecar (etl.core.sidecar.serve) until its caller stops it or goes away. It is Airflow's preloading workers
(etl.quality.local_executor, etl.quality.preload) for the command line.

Nothing depends on it: without a server (or with one that does not answer within CONNECT_WAIT_S) a `relief`
process spawns its own sidecar as before. A server is only used by a process running the same code: the socket's
name carries a fingerprint of the Python interpreter and of the `etl` package's files, so a changed checkout or a
reinstalled venv spawns until a server of the new code is started. The socket lives in a directory only its owner
may enter (RELIEF_SIDECAR_DIR, else $XDG_RUNTIME_DIR/relief, else /tmp/relief-UID): whoever can connect can run
code as that user, as with any pickle pipe, so the directory's owner and mode are checked before it is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import multiprocessing
import os
import signal
import socket
import stat
import sys
import tempfile
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path

import etl
from etl.core import sidecar

log = logging.getLogger(__name__)
ENV_DIR = "RELIEF_SIDECAR_DIR"
HELLO = b"relief-sidecar/1"  # the first message on a connection, with the caller's stdout and stderr
CONNECT_WAIT_S = 5.0  # how long a caller waits for the forked child to say it is ready, before it spawns instead
DEFAULT_IDLE_S = 900.0  # a server no caller has connected to for this long stops


class ServerError(RuntimeError):
    """The server cannot start: another one serves the same code, or its directory is not private."""


def socket_dir() -> Path:
    base = os.environ.get(ENV_DIR)
    if base:
        return Path(base)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return Path(runtime) / "relief" if runtime else Path(tempfile.gettempdir()) / f"relief-{os.getuid()}"


def code_fingerprint() -> str:
    """The interpreter and the `etl` package's files (path, size, mtime): a server serves only the code it runs."""
    interpreter = (os.path.realpath(sys.executable), sys.prefix, sys.version)  # python and python3 alike
    digest = hashlib.sha256("\0".join(interpreter).encode())
    package = Path(etl.__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        info = path.stat()
        digest.update(f"\0{path}\0{info.st_size}\0{info.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def socket_path() -> Path:
    return socket_dir() / f"sidecar-{code_fingerprint()}.sock"


def _private_dir(path: Path, create: bool) -> bool:
    """Whether `path` is a directory of this user's that nobody else may enter (made so when `create`)."""
    if create:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        info = path.stat()
    except FileNotFoundError:
        return False
    private = stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077
    if not private:
        log.warning("sidecar server: %s is not a private directory of this user's; not used", path)
    return private


def connect(preload: Sequence[str], level: int, log_format: str) -> tuple[Connection, int] | None:
    """A warm sidecar for this process, from a server of the same code: its connection and pid; None without one."""
    path = socket_path()
    if not path.exists() or not _private_dir(path.parent, create=False):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_WAIT_S)
        sock.connect(str(path))
        socket.send_fds(sock, [HELLO], [1, 2])  # what a spawned sidecar inherits: the process's stdout, stderr
        sock.settimeout(None)
    except OSError as exc:  # no server behind a stale socket; a closed stdout or stderr
        log.debug("sidecar server at %s not used: %s", path, exc)
        sock.close()
        return None
    conn = Connection(sock.detach())
    try:
        conn.send((dict(os.environ), os.getcwd(), list(sys.path), tuple(preload), level, log_format))
        if not conn.poll(CONNECT_WAIT_S):
            raise TimeoutError(f"no answer within {CONNECT_WAIT_S:.0f} s")
        ready, pid = conn.recv()
        if ready != "ready":
            raise ValueError(f"unexpected answer {ready!r}")
    except (OSError, EOFError, TimeoutError, ValueError) as exc:
        log.warning("sidecar server at %s did not answer (%s): a sidecar is spawned instead", path, exc)
        conn.close()
        return None
    return conn, pid


def serve_forever(preload: Sequence[str], idle_s: float = DEFAULT_IDLE_S, ready: str | None = None) -> int:
    """Import `preload`, then fork a warm sidecar for each caller until idle for `idle_s` (0: never) or stopped.

    Returns the number of callers served. `ready`, if given, is a file written once the socket accepts callers.
    """
    path = socket_path()
    if not _private_dir(path.parent, create=True):
        raise ServerError(f"{path.parent} is not a private directory of this user's (mode 700)")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    multiprocessing.current_process().name = sidecar.SIDECAR_NAME  # its logs (and its children's) say so
    started = time.perf_counter()
    for name in preload:
        sidecar.preload_one(name)
    log.info("sidecar server: %d module(s) imported in %.1f s", len(preload), time.perf_counter() - started)
    listener = _listen(path)
    served = 0

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the children are reaped by the system
    try:
        listener.settimeout(idle_s or None)
        if ready:
            Path(ready).write_text(str(path), encoding="utf-8")
        log.info("sidecar server: ready at %s (pid %d, stops after %.0f s idle)", path, os.getpid(), idle_s)
        while True:
            try:
                caller, _ = listener.accept()
            except TimeoutError:
                log.info("sidecar server: idle for %.0f s, stopping after %d caller(s)", idle_s, served)
                return served
            served += 1
            sys.stdout.flush()
            sys.stderr.flush()
            if os.fork() == 0:
                listener.close()
                _child(caller, done=tuple(preload))  # never returns
            caller.close()
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        listener.close()


def _listen(path: Path) -> socket.socket:
    """Bind the socket, replacing a stale one; ServerError if a server of the same code already answers on it."""
    if path.exists():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # left by a server that was killed
        else:
            raise ServerError(f"a sidecar server of this code already listens at {path}")
        finally:
            probe.close()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(16)
    return listener


def _child(caller: socket.socket, done: tuple[str, ...]) -> None:
    """In the forked child: become the caller's sidecar (its environment, streams, path), then serve its calls."""
    code = 0
    try:
        for signum in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        caller.settimeout(CONNECT_WAIT_S)
        hello, fds, _, _ = socket.recv_fds(caller, len(HELLO), 2)
        if hello != HELLO or len(fds) != 2:  # a probe, or not a relief process: nothing to serve
            os._exit(0)
        caller.settimeout(None)
        for fd, target in zip(fds, (1, 2), strict=True):
            os.dup2(fd, target)
            os.close(fd)
        conn = Connection(caller.detach())
        env, cwd, path, preload, level, log_format = conn.recv()
        os.environ.clear()
        os.environ.update(env)
        time.tzset()
        os.chdir(cwd)
        sys.path[:] = path
        multiprocessing.current_process().name = sidecar.SIDECAR_NAME
        logging.basicConfig(level=level, format=log_format, stream=sys.stderr, force=True)
        conn.send(("ready", os.getpid()))
        rest = tuple(name for name in preload if name not in done)
        sidecar.serve(conn, rest, level, log_format)  # what the server did not preload, while idle
    except BaseException:  # a forked child must never return into the server's loop
        code = 1
        with contextlib.suppress(Exception):
            log.exception("sidecar server: a warm sidecar failed")
    finally:
        os._exit(code)
