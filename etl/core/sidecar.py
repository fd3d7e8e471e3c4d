"""A second process for a run's heavy, pure work, so its imports cost no wall time on a two-core machine.

Every `relief run-day` is a fresh process, and the validations import Great Expectations (3-5 s) and the
finance report imports matplotlib (about a second): on one core that is most of a small day. A sidecar is
started first, in a clean interpreter (spawn: no inherited connections or locks), imports those modules on the
other core while this process stages the day, then runs the calls it is given, one at a time, returning each
result or exception. Between calls it goes on importing what is left (a call that arrives first cuts the list
short), so matplotlib is in memory by the time the charts are drawn. Calls are module-level functions with
picklable arguments: they open their own connections from a URL.

It fails safe: if the sidecar cannot start, or dies, the call runs in this process instead. The work is never
skipped, only no longer overlapped; a log line says so.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SIDECAR_NAME = "relief-sidecar"  # the process's name, in logs and for code that asks where it runs


class Sidecar:
    """Runs `call(fn, *args)` in a second process that has imported `preload` in the meantime."""

    def __init__(self, preload: Sequence[str], log_format: str = LOG_FORMAT) -> None:
        self._conn: Connection | None = None
        self._proc: Any = None
        self._warm_pid: int | None = None  # a warm sidecar forked by `relief sidecar-server`, not our child
        self._pending: str | None = None  # the call submitted and not yet collected
        level = logging.getLogger().getEffectiveLevel()
        from etl.core.sidecar_server import connect  # a warm sidecar, if a `relief sidecar-server` runs

        found = connect(preload, level, log_format)
        if found is not None:
            self._conn, self._warm_pid = found
            log.debug("sidecar: a warm one from the sidecar server (pid %d)", self._warm_pid)
            return
        ctx = multiprocessing.get_context("spawn")
        ours, theirs = ctx.Pipe()
        proc = ctx.Process(target=serve, args=(theirs, tuple(preload), level, log_format), name=SIDECAR_NAME)
        proc.daemon = True  # never outlives this process
        try:
            proc.start()
        except OSError as exc:
            log.warning("no sidecar (%s): its work runs in this process", exc)
            ours.close()
            return
        finally:
            theirs.close()
        self._conn, self._proc = ours, proc

    @property
    def alive(self) -> bool:
        return self._conn is not None

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) in the sidecar (or here, if it is gone): its result, or its exception raised here."""
        return self.submit(fn, *args)()

    def submit(self, fn: Callable[..., T], *args: Any) -> Pending[T]:
        """Start fn(*args) in the sidecar and return at once: this process works meanwhile, and calling the
        returned Pending waits for the result (or raises its exception here). One call at a time: collect it
        before the next. Without a live sidecar the work runs here, when the result is first asked for."""
        if self._pending:
            raise RuntimeError(f"the sidecar is still running {self._pending}: collect its result first")
        sent = False
        if self._conn is not None:
            try:
                self._conn.send((fn, args))
                sent, self._pending = True, fn.__qualname__
            except OSError as exc:
                self._stopped(exc, fn)
        return Pending(self, fn, args, sent)

    def _collect(self, fn: Callable[..., Any], args: tuple[Any, ...], sent: bool) -> tuple[bool, Any]:
        """The reply to the call sent (or fn run here when it was not, or the sidecar died meanwhile)."""
        if sent and self._conn is not None:
            try:
                return self._conn.recv()
            except (EOFError, OSError) as exc:
                self._stopped(exc, fn)
            finally:
                self._pending = None
        try:
            return True, fn(*args)
        except Exception as exc:
            return False, exc

    def _ready(self, timeout: float) -> bool:
        """Whether the reply (or the pipe's end) arrives within `timeout` seconds."""
        return self._conn is None or self._conn.poll(timeout)

    def _stopped(self, exc: BaseException, fn: Callable[..., Any]) -> None:
        log.warning("the sidecar stopped (%r): %s runs in this process", exc, fn.__qualname__)
        self.close()

    def close(self) -> None:
        """Tell the sidecar to stop (it stops its preloading too) and wait for it briefly."""
        conn, proc, self._conn, self._proc = self._conn, self._proc, None, None
        busy, self._pending, warm_pid, self._warm_pid = self._pending, None, self._warm_pid, None
        if conn is not None:
            with contextlib.suppress(OSError):  # already gone
                conn.send(None)
            conn.close()
        if warm_pid is not None and busy:  # not our child to join: a call it is still running is stopped here
            with contextlib.suppress(ProcessLookupError):
                os.kill(warm_pid, signal.SIGKILL)
        if proc is not None:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)

    def __enter__(self) -> Sidecar:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class Pending(Generic[T]):
    """A call submitted to the sidecar: calling it waits for the result, once (asked again, the same outcome)."""

    def __init__(self, sidecar: Sidecar, fn: Callable[..., T], args: tuple[Any, ...], sent: bool) -> None:
        self._sidecar, self._fn, self._args, self._sent = sidecar, fn, args, sent
        self._reply: tuple[bool, Any] | None = None

    def __call__(self, timeout: float | None = None) -> T:
        """The result, or the call's exception raised here. Given `timeout` (seconds), TimeoutError if the call
        has not finished by then: it goes on, and a later call without a timeout still collects it."""
        if self._reply is None:
            if self._sent and timeout is not None and not self._sidecar._ready(timeout):
                raise TimeoutError(f"{self._fn.__qualname__} did not finish in the sidecar within {timeout:.0f} s")
            self._reply = self._sidecar._collect(self._fn, self._args, self._sent)
        ok, value = self._reply
        if ok:
            return value
        raise value


def serve(conn: Connection, preload: tuple[str, ...], level: int, log_format: str) -> None:
    """The sidecar's loop: run calls until told to stop, importing `preload` whenever no call is waiting."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it then closes us
    logging.basicConfig(level=level, format=log_format, stream=sys.stderr)
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    waiting = list(preload)
    _preload_while_idle(conn, waiting)
    while True:
        try:
            job = conn.recv()
        except EOFError:  # the parent is gone
            job = None
        if job is None:
            _exit()
        fn, args = job
        try:
            reply: tuple[bool, Any] = (True, fn(*args))
        except Exception as exc:
            reply = (False, _portable(exc))
        try:
            conn.send(reply)
        except OSError:  # the parent is gone (or stopped us while the call ran)
            _exit()
        _preload_while_idle(conn, waiting)  # e.g. matplotlib for the charts, while the parent computes


def preload_one(name: str) -> None:
    """Import a module ("package.module"), or import one and call its warm-up ("package.module:function"): a
    first call pays for lazy imports and caches that a warm-up, run before any call arrives, has paid already."""
    module, _, function = name.partition(":")
    imported = importlib.import_module(module)
    if function:
        getattr(imported, function)()


def _preload_while_idle(conn: Connection, waiting: list[str]) -> None:
    """Import the modules still waiting, in order, one at a time, until a call (or the stop) arrives: a call is
    never kept waiting for more than the import under way, and what a call did not need is imported after it."""
    started, before = time.perf_counter(), len(waiting)
    while waiting and not conn.poll():
        name = waiting.pop(0)
        try:
            preload_one(name)
        except Exception as exc:  # the call that needs it raises the same error, where it is understood
            log.warning("sidecar: could not preload %s (%s)", name, exc)
    if len(waiting) < before:
        log.debug("sidecar: preloaded %d module(s) in %.1f s", before - len(waiting), time.perf_counter() - started)


def _exit() -> None:
    """Stop at once: tearing down GX, pandas and matplotlib takes about a second, and the parent waits for it.

    Nothing is lost: every call's transaction has ended before its reply was sent, logs are flushed here, and
    the system closes the files and connections (PostgreSQL sees a client leave between transactions).
    """
    logging.shutdown()
    sys.stderr.flush()
    os._exit(0)


def _portable(exc: Exception) -> Exception:
    """The exception itself when it survives pickling; else a RuntimeError with its type and message."""
    from etl.core.errors import ReliefError

    if not isinstance(exc, ReliefError):  # an operator's error needs no traceback; anything else does
        log.error("sidecar: %s failed", type(exc).__name__, exc_info=exc)
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
