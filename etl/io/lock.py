"""One writer at a time: a lease on the warehouse that every step writing the ledger holds.

The lock is a row (`writer_lock`) taken with one upsert that succeeds only when the row is free, its
lease has run out, or this very process holds it (steps of one `relief run-day` nest). The same SQL
works on SQLite and PostgreSQL, whose own row locking serialises two takers. A second writer stops at
once with a message naming the holder. A holder that died on this host is detected by its pid and
its lock taken over; one on another host keeps the lock until its lease ends.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from etl.core.errors import ReliefError
from etl.io.warehouse import Warehouse

log = logging.getLogger(__name__)
LEASE = dt.timedelta(hours=2)  # longer than any step; a crashed holder elsewhere blocks at most this long
_depth: dict[str, int] = {}  # per warehouse URL: how many nested holders this process has


class WarehouseBusy(ReliefError):
    """Another run is writing the ledger: this one stops rather than interleave with it."""


def _me() -> dict[str, object]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _try_acquire(wh: Warehouse, holder: str) -> dict | None:
    """Take the lock; None when taken, else the current holder's row."""
    now = dt.datetime.now(dt.UTC)
    params = {**_me(), "holder": holder, "now": now.isoformat(), "expires_at": (now + LEASE).isoformat()}
    with wh.begin() as conn:
        Warehouse.run(conn, "acquire_writer_lock", **params)
        rows = Warehouse.rows(conn, "writer_lock_holder")
    current = rows[0] if rows else None
    if current and current["host"] == params["host"] and current["pid"] == params["pid"]:
        return None
    return current or {"holder": "?", "host": "?", "pid": 0, "acquired_at": "?", "expires_at": "?"}


def _release(wh: Warehouse) -> None:
    with wh.begin() as conn:
        Warehouse.run(conn, "release_writer_lock", **_me())


@contextmanager
def writer(wh: Warehouse, holder: str) -> Iterator[None]:
    """Hold the warehouse's writer lock for the block, or raise WarehouseBusy naming who holds it."""
    if _depth.get(wh.url, 0) == 0:
        current = _try_acquire(wh, holder)
        if current and current["host"] == socket.gethostname() and not _alive(int(current["pid"])):
            log.warning("taking over the writer lock of %s (pid %s is gone)", current["holder"], current["pid"])
            with wh.begin() as conn:
                Warehouse.run(conn, "release_writer_lock", host=current["host"], pid=current["pid"])
            current = _try_acquire(wh, holder)
        if current:
            raise WarehouseBusy(
                f"cannot {holder}: the warehouse is being written by {current['holder']} (pid {current['pid']} on"
                f" {current['host']}, since {current['acquired_at']}). One writer at a time: wait for it to finish"
                " and run this again."
            )
    _depth[wh.url] = _depth.get(wh.url, 0) + 1
    try:
        yield
    finally:
        _depth[wh.url] -= 1
        if _depth[wh.url] == 0:
            _release(wh)
