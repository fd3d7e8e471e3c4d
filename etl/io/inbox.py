"""Inbox hygiene: which files are a kind's dated deliveries, and opening one only if it is a regular file.

Pure functions over the file system, with no knowledge of the pipeline. A dated delivery is named
exactly `{kind}_YYYYMMDD.csv` with ASCII digits and a real calendar date; a near miss (full-width digits,
`claims_20221332.csv`, `claims_20221016.csv.bak`, another case) is not a delivery: it is left alone and
reported with a warning naming it, so an operator can rename it. An inbox file is read only when it is a
regular file: a symbolic link, FIFO, device, socket or directory is refused without being read.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import stat
from pathlib import Path
from typing import BinaryIO

from etl.core.errors import InboxFileError

log = logging.getLogger(__name__)


class UnsafeInboxFile(InboxFileError):
    """An inbox path that is not a regular file we may read (or cannot be examined at all)."""

    def __init__(self, path: Path | str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


def dated_files(inbox: Path, kind: str) -> dict[dt.date, Path]:
    """The `{kind}_YYYYMMDD.csv` files of an inbox by date, in date order; near misses are logged and skipped."""
    try:
        names = sorted(os.listdir(inbox))
    except FileNotFoundError:
        return {}
    found: dict[dt.date, Path] = {}
    dated = re.compile(rf"{re.escape(kind)}_([0-9]{{8}})\.csv")  # [0-9]: ASCII digits only
    prefix = kind.casefold()
    for name in names:
        if name.startswith("."):
            continue  # a writer's temporary or hidden file: not a delivery
        m = dated.fullmatch(name)
        if m:
            digits = m[1]
            try:
                found[dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))] = inbox / name
                continue
            except ValueError:
                log.warning(
                    "inbox file %r ignored: %s is not a calendar date (expected %s_YYYYMMDD.csv)", name, digits, kind
                )
                continue
        if name.casefold().startswith(prefix):
            log.warning("inbox file %r ignored: not named %s_YYYYMMDD.csv (ASCII digits, a real date)", name, kind)
    return dict(sorted(found.items()))


def _kind_of(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _refuse(path: Path, mode: int) -> UnsafeInboxFile:
    return UnsafeInboxFile(path, f"is {_kind_of(mode)}, not a regular file: refused, not read")


def open_regular(path: Path) -> BinaryIO:
    """Open an inbox file for binary reading, refusing anything but a regular file.

    lstat first (a symbolic link is never followed), then open with O_NOFOLLOW | O_NONBLOCK (a link swapped
    in meanwhile fails, a FIFO cannot block the open) and check the opened file again with fstat.
    """
    try:
        before = os.lstat(path)
    except FileNotFoundError:
        raise UnsafeInboxFile(path, "does not exist") from None
    except OSError as exc:
        raise UnsafeInboxFile(path, f"cannot be examined ({exc.strerror})") from None
    if not stat.S_ISREG(before.st_mode):
        raise _refuse(path, before.st_mode)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        try:
            now = os.lstat(path).st_mode
        except OSError:
            now = None
        if now is not None and not stat.S_ISREG(now):
            raise _refuse(path, now) from None
        raise UnsafeInboxFile(path, f"cannot be read ({exc.strerror})") from None
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise _refuse(path, opened.st_mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
