"""Day order and final days: the rules that keep the ledger's history from changing under it.

* Inside the intake window a day runs only after every earlier window day is published (a missing
  file blocks, naming it); no day runs for the first time once a later day is published.
* A published day is final. It may be rerun only on byte-identical inputs (claims, decisions and
  returns files, program config), and then it recomputes nothing: its files are written again from
  the ledger, byte for byte. A changed input stops the run, saying what changed: a correction comes
  in a later delivery.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from etl.core.config import Program
from etl.core.contract import INBOX_KINDS, inbox_file_name
from etl.core.errors import InboxFileError, OutOfOrderRun, ReliefError
from etl.io.inbox import open_regular
from etl.io.warehouse import Warehouse

ABSENT = "absent"  # the hash recorded for an optional file that was not delivered


class ProgramClosed(ReliefError):
    """The program is closed: no day computes or pays any more."""


class PublishedDayChanged(ReliefError):
    """A published day was asked to run again on inputs that differ from the ones it was published on."""


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, or "absent" when there is no such file."""
    if not os.path.lexists(path):
        return ABSENT
    digest = hashlib.sha256()
    with open_regular(path) as fh:  # never a symlink, FIFO or device: those stop the day with a message
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def current_inputs(inbox: Path, program: Program, day: dt.date) -> dict[str, str]:
    """The hashes of everything a day's run reads: its inbox files and the program config."""
    hashes = {kind: file_sha256(inbox / inbox_file_name(kind, day)) for kind in INBOX_KINDS}
    hashes["config"] = program.sha256
    return hashes


def record_inputs(conn: Connection, run_date: str, hashes: dict[str, str]) -> None:
    rows = ({"run_date": run_date, "kind": kind, "sha256": sha} for kind, sha in sorted(hashes.items()))
    Warehouse.executemany(conn, "upsert_day_input", rows)


def day_run(wh: Warehouse, day: dt.date) -> dict[str, Any] | None:
    """The run record of a day, or None if it never ran."""
    with wh.begin() as conn:
        rows = Warehouse.rows(conn, "day_run", run_date=day.isoformat())
    return rows[0] if rows else None


def is_published(wh: Warehouse, day: dt.date) -> bool:
    run = day_run(wh, day)
    return bool(run and run["status"] == "published")


def check_order(wh: Warehouse, inbox: Path, program: Program, day: dt.date) -> None:
    """Refuse a day that would be computed against an incomplete or a future ledger."""
    run_date = day.isoformat()
    with wh.begin() as conn:
        runs = {r["run_date"]: r["status"] for r in Warehouse.rows(conn, "day_runs_before", run_date=run_date)}
        this = Warehouse.rows(conn, "day_run", run_date=run_date)
        latest = Warehouse.rows(conn, "latest_day_run", as_of=None)
    for earlier in (d for d in program.intake_days() if d < day):
        if runs.get(earlier.isoformat()) != "published":
            path = inbox / inbox_file_name("claims", earlier)
            why = "has not arrived" if not os.path.lexists(path) else "has arrived but the day is not published"
            raise OutOfOrderRun(
                f"cannot run {run_date}: the intake day {earlier} is not published ({path.name} {why})."
                f" Days run in order: publish {earlier} first (relief run-day {earlier}, or its claims_daily run)."
            )
    _check_settlement_days_before(inbox, program, day, runs)
    if not this and latest and latest[0]["run_date"] > run_date:
        raise OutOfOrderRun(
            f"cannot run {run_date} for the first time: a later day ({latest[0]['run_date']}) is already published,"
            " and a published day is final. Deliver these claims with a later day instead."
        )


def has_inputs(inbox: Path, day: dt.date) -> bool:
    """Whether any inbox file (claims, decisions, returns) came for the day."""
    return any(os.path.lexists(inbox / inbox_file_name(kind, day)) for kind in INBOX_KINDS)


def _check_settlement_days_before(inbox: Path, program: Program, day: dt.date, runs: dict[str, str]) -> None:
    """After the window, a day that received files must be published before any later day runs.

    A settlement day without files is simply skipped: it blocks nothing.
    """
    earlier = program.intake_last_day + dt.timedelta(days=1)
    while earlier < day:
        if runs.get(earlier.isoformat()) != "published" and has_inputs(inbox, earlier):
            raise OutOfOrderRun(
                f"cannot run {day}: {earlier} received inbox files but is not published. Days run in order:"
                f" publish {earlier} first (relief run-day {earlier}, or its claims_daily run)."
            )
        earlier += dt.timedelta(days=1)


def check_life(inbox: Path, program: Program, day: dt.date) -> None:
    """A day runs only within the program's life; claims files come only for the intake window."""
    claims = inbox / inbox_file_name("claims", day)
    window = f"{program.intake_first_day}..{program.intake_last_day}"
    if not program.intake_first_day <= day <= program.close_date:
        raise ReliefError(
            f"{day} is outside the program's life ({program.intake_first_day}..{program.close_date}): nothing to run"
        )
    if not program.in_window(day) and os.path.lexists(claims):
        raise InboxFileError(
            f"{claims.name} is for a day outside the intake window ({window}): refused, not read. Claims after the"
            " window are not part of this program; ask the intake team to withdraw the file."
        )


def admit(wh: Warehouse, inbox: Path, program: Program, day: dt.date) -> bool:
    """May this day run? True when it is a rerun of a published day on the same inputs (a replay).

    Otherwise the program must be open and the day in order; each refusal raises with its reason.
    """
    if replaying(wh, inbox, program, day):
        return True
    check_life(inbox, program, day)
    check_open(wh, program, day)
    check_order(wh, inbox, program, day)
    return False


def check_open(wh: Warehouse, program: Program, day: dt.date) -> None:
    """After the program's close no day computes or pays."""
    with wh.begin() as conn:
        closed = Warehouse.rows(conn, "program_close", program=program.code)
    if closed:
        raise ProgramClosed(
            f"cannot run {day}: the program {program.code} was closed on {closed[0]['closed_on']} by"
            f" {closed[0]['closed_by']}; no day computes or pays after the close"
        )


def replaying(wh: Warehouse, inbox: Path, program: Program, day: dt.date) -> bool:
    """True when the day is published and its inputs are unchanged (a rerun only rewrites its files).

    Raises PublishedDayChanged, saying which inputs differ, when the day is published on other inputs.
    """
    if not is_published(wh, day):
        return False
    with wh.begin() as conn:
        recorded = {r["kind"]: r["sha256"] for r in Warehouse.rows(conn, "day_input_hashes", run_date=day.isoformat())}
    now = current_inputs(inbox, program, day)
    changed = [kind for kind in now if kind in recorded and recorded[kind] != now[kind]]
    if changed:
        what = ", ".join(f"{kind} ({_short(recorded[kind])} then, {_short(now[kind])} now)" for kind in changed)
        raise PublishedDayChanged(
            f"{day} is published and final, but its inputs changed since it was published: {what}. A published day is"
            " only rerun on the same inputs. Restore them, or bring the correction in a later day's delivery."
        )
    return True


def _short(sha: str) -> str:
    return sha if sha == ABSENT else sha[:12] + "…"
