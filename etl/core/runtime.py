"""What a scheduled task needs to find its day and its program, without importing Airflow."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from etl.core.config import Program, load_program
from etl.core.settings import Settings


def run_day_of(logical_date: dt.datetime | None, run_after: dt.datetime | None, timezone: str) -> dt.date:
    """The program day a run is for: its logical date in the program's time zone (KST).

    A scheduled run's logical date is the start of the day it covers; a manual run without
    one falls back to the moment it was asked for. The clock is never read here.
    """
    moment = logical_date or run_after
    if moment is None:
        raise ValueError("a run without logical_date or run_after has no day")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(ZoneInfo(timezone)).date()


def task_setup(logical_date: dt.datetime | None, run_after: dt.datetime | None) -> tuple[Settings, Program, dt.date]:
    """Settings from the environment, the validated program config and the run's day."""
    program = load_program()
    return Settings.resolve(), program, run_day_of(logical_date, run_after, program.timezone)
