"""What a scheduled task needs to find its day, its program and its resources, without importing Airflow."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from etl.core.config import Program, load_program
from etl.core.settings import Settings

if TYPE_CHECKING:
    from etl.io.warehouse import Warehouse


def run_day_of(logical_date: dt.datetime | None, run_after: dt.datetime | None, timezone: str) -> dt.date:
    """The program day a run is for: its logical date in the program's time zone (KST).

    A scheduled run's logical date is the start of the day it covers; a manual run without
    one falls back to the moment it was asked for. The clock is never read here.
    """
    moment = logical_date or run_after
    if moment is None:
        raise ValueError("a run without logical_date or run_after has no day")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(ZoneInfo(timezone)).date()


@dataclass(frozen=True)
class TaskRun:
    """One task's view of its run: settings from the environment, the program, the day, the warehouse."""

    settings: Settings
    program: Program
    day: dt.date

    @functools.cached_property
    def warehouse(self) -> Warehouse:
        from etl.io.warehouse import Warehouse  # SQLAlchemy: only for the tasks that use the warehouse

        return Warehouse(self.settings.db_url)


def task_run(logical_date: dt.datetime | None, dag_run: Any) -> TaskRun:
    """The TaskRun of an Airflow task, from its logical date (or its run's run_after)."""
    program = load_program()
    day = run_day_of(logical_date, getattr(dag_run, "run_after", None), program.timezone)
    return TaskRun(Settings.resolve(), program, day)
