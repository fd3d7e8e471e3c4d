"""Small pieces every rollout step shares: the bundle codes, the shard size, the date check, progress logs.

Kept in a module of their own so that the plan, the shards, the finish and `run_rollout` can use them
without importing one another.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from typing import Final

from etl.core.config import Program
from etl.core.errors import ReliefError

log = logging.getLogger(__name__)

BASE: Final = "relief_base"
TD: Final = "relief_base_td"
DEFAULT_SHARD_SIZE = 1_000_000


def default_shard_size() -> int:
    return int(os.environ.get("RELIEF_SHARD_SIZE") or DEFAULT_SHARD_SIZE)


def worker_count() -> int:
    """Threads for the parallel parts: two (pyarrow and numpy release the GIL), one on a single core."""
    return max(1, min(2, os.cpu_count() or 1))


def as_date(day: dt.date | str | None, program: Program) -> dt.date:
    """The rollout day: the program's, and a clear refusal of any other."""
    if day is None:
        return program.rollout_date
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    if day != program.rollout_date:
        raise ReliefError(
            f"the program's rollout date is {program.rollout_date} (rollout.date in {program.path}); "
            f"refusing to build grants for {day}"
        )
    return day


class Progress:
    """Logs users done / total and the rate, at most every `every` seconds."""

    def __init__(self, what: str, total: int | None, every: float = 5.0):
        self.what, self.total, self.every = what, total, every
        self.t0 = self.last = time.monotonic()

    def update(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last >= self.every:
            self.last = now
            rate = done / max(now - self.t0, 1e-9)
            if self.total:
                log.info(
                    "%s: %d / ~%d users (%.0f%%), %.0f users/s",
                    self.what,
                    done,
                    self.total,
                    100.0 * done / self.total,
                    rate,
                )
            else:
                log.info("%s: %d users, %.0f users/s", self.what, done, rate)
