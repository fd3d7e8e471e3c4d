"""The intake's deliveries: where a day's files are, whether they have arrived, and reading the optional ones."""

from __future__ import annotations

import datetime as dt
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from etl.core.contract import inbox_file_name
from etl.core.errors import InboxFileError, MissingDelivery
from etl.io.csvfile import MalformedFileError

log = logging.getLogger(__name__)
MAX_WAIT_FOR_DELIVERY = dt.timedelta(hours=6)
T = TypeVar("T")


def inbox_path(inbox: Path, kind: str, day: dt.date) -> Path:
    """`claims_YYYYMMDD.csv`, `decisions_YYYYMMDD.csv` or `returns_YYYYMMDD.csv` of a day."""
    return inbox / inbox_file_name(kind, day)


def claims_path(inbox: Path, day: dt.date) -> Path:
    return inbox_path(inbox, "claims", day)


def claims_file_ready(
    inbox: Path,
    day: dt.date,
    waiting_since: dt.datetime | None = None,
    max_wait: dt.timedelta = MAX_WAIT_FOR_DELIVERY,
) -> bool:
    """The sensor's test: the intake has delivered the day's file (a missing file is not late yet).

    Past `max_wait` since the wait began it fails with a message naming the file, rather than
    Airflow's generic sensor timeout.
    """
    path = claims_path(inbox, day)
    if os.path.lexists(path) and not stat.S_ISDIR(os.lstat(path).st_mode):
        return True  # a symlink, FIFO or device too: staging refuses it with a message rather than wait on it
    if waiting_since is not None:
        waited = dt.datetime.now(dt.UTC) - waiting_since
        if waited > max_wait:
            raise MissingDelivery(
                f"{path} has not arrived after waiting {waited.total_seconds() / 3600:.1f} h: the intake has not"
                f" delivered {day}. Ask the intake team to deliver it (a day without claims still gets a"
                f" header-only file), then clear this task to wait again."
            )
    log.info("waiting for %s: the intake has not delivered %s yet", path, day)
    return False


def read_optional(inbox: Path, kind: str, day: dt.date, parse: Callable[[Path], T]) -> T | None:
    """Parse an optional inbox file (decisions, returns) of a day; a malformed file stops the day."""
    path = inbox_path(inbox, kind, day)
    if not os.path.lexists(path):
        return None
    try:
        return parse(path)
    except MalformedFileError as exc:
        raise InboxFileError(f"{kind} file for {day} unusable: {exc}; nothing published for this day") from None
