"""Stage a day's claims file: parse it, quarantine bad rows, classify re-deliveries and affiliate claims.

The first step of a day. It replaces the day's staged rows (and clears what later steps computed
from them) in one transaction, and records the day's counts, which must reconcile.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections import Counter
from pathlib import Path
from typing import TypedDict

from sqlalchemy.engine import Connection

from etl.claims.counts import Counts, check_reconciles, count_report, empty_counts
from etl.claims.delivery import claims_path
from etl.claims.parse import ParsedDay, load_services, parse_claims_file
from etl.core.clock import audit_now
from etl.core.config import Program
from etl.core.errors import InboxFileError
from etl.io.csvfile import MalformedFileError
from etl.io.lock import writer
from etl.io.warehouse import Warehouse
from etl.ledger import days

log = logging.getLogger(__name__)
_OUTCOME_COUNT = {"accepted": "accepted", "excluded": "excluded", "duplicate": "duplicates"}


class StageResult(TypedDict):
    rows_received: int
    accepted: int
    duplicates: int
    excluded: int
    quarantined: int


def _parse(path: Path, program: Program, day: dt.date) -> tuple[ParsedDay, str | None]:
    try:
        data_sha = days.file_sha256(path) if os.path.lexists(path) else None
        services = load_services(program.services_path)
        return parse_claims_file(path, services, day=day, outage_date=program.outage_date), data_sha
    except MalformedFileError as exc:
        raise InboxFileError(f"claims file for {day} unusable: {exc}; nothing published for this day") from None


def _classify_in_file(rows: list[dict], run_date: str) -> dict[str, dict]:
    """Within the file, the first line of a receipt is its report, later lines re-deliveries.

    Returns each receipt's last line: its effective version at the end of the day.
    """
    seen: set[str] = set()
    last_line: dict[str, dict] = {}
    for row in rows:
        row["run_date"] = run_date
        if row["receipt_no"] in seen:
            row["outcome"] = "duplicate"
        else:
            seen.add(row["receipt_no"])
            row["outcome"] = "accepted" if row["kakao_corp"] else "excluded"
        last_line[row["receipt_no"]] = row
        for flag in ("kakao_corp", "paid_service", "monetary_loss"):
            row[flag] = int(row[flag])
    return last_line


def _store(conn: Connection, parsed: ParsedDay, source_file: str, run_date: str) -> dict[str, dict]:
    """Replace the day's staged rows; mark receipts delivered on an earlier day as re-deliveries."""
    Warehouse.run(conn, "reset_day", run_date=run_date)
    Warehouse.executemany(conn, "insert_delivery", parsed.rows)
    Warehouse.executemany(
        conn,
        "insert_quarantine",
        ({**q, "run_date": run_date, "source_file": source_file} for q in parsed.quarantined),
    )
    previous = {r["receipt_no"]: r for r in Warehouse.rows(conn, "previous_versions", run_date=run_date)}
    if previous:
        Warehouse.executemany(conn, "mark_redelivered", ({"run_date": run_date, "receipt_no": r} for r in previous))
        for row in parsed.rows:
            if row["receipt_no"] in previous:
                row["outcome"] = "duplicate"
    return previous


def _count(parsed: ParsedDay, last_line: dict[str, dict], previous: dict[str, dict]) -> Counts:
    """The day's counts; the table's counts follow each receipt's effective (latest) version."""
    counts = empty_counts()
    counts["rows_received"] = parsed.rows_received
    counts["quarantined"] = len(parsed.quarantined)
    counts["quarantined_by_reason"] = dict(Counter(q["reason"] for q in parsed.quarantined))
    for row in parsed.rows:
        counts[_OUTCOME_COUNT[row["outcome"]]] += 1  # type: ignore[literal-required]
    for receipt_no, row in last_line.items():
        prev = previous.get(receipt_no)
        if prev is None:
            counts["reports_received"] += 1
        else:
            count_report(counts, prev, -1)
        count_report(counts, row, +1)
    return counts


def stage_day(wh: Warehouse, inbox: Path, program: Program, day: dt.date, run_id: str) -> StageResult:
    """Read the day's claims file, quarantine bad rows, classify the rest, store them; return the day's counts."""
    with writer(wh, f"stage {day} ({run_id})"):
        if days.admit(wh, inbox, program, day):
            return _recorded_result(wh, day)
        return _stage(wh, inbox, program, day, run_id)


def _recorded_result(wh: Warehouse, day: dt.date) -> StageResult:
    """A published day's staged counts, as recorded when it ran (a rerun of it changes nothing)."""
    run = days.day_run(wh, day)
    assert run is not None  # replaying() saw it published
    counts = json.loads(run["day_counts"])
    log.info("%s is published and its inputs are unchanged: nothing to stage again", day)
    return {k: counts[k] for k in StageResult.__annotations__}  # type: ignore[return-value]


def _stage(wh: Warehouse, inbox: Path, program: Program, day: dt.date, run_id: str) -> StageResult:
    run_date = day.isoformat()
    path = claims_path(inbox, day)
    # After the window a day has no claims (check_life refused any file): it stages an empty day.
    parsed, data_sha = _parse(path, program, day) if program.in_window(day) else (ParsedDay(), None)
    last_line = _classify_in_file(parsed.rows, run_date)
    with wh.begin() as conn:
        previous = _store(conn, parsed, path.name, run_date)
        counts = _count(parsed, last_line, previous)
        check_reconciles(counts, f"claims file {path.name}")
        Warehouse.run(
            conn,
            "upsert_day_run",
            run_date=run_date,
            run_id=run_id,
            status="staged",
            config_sha256=program.sha256,
            claims_sha256=data_sha,
            day_counts=json.dumps(counts),
            cumulative_counts=None,
            updated_at=audit_now(),
        )
        days.record_inputs(conn, run_date, {"claims": data_sha or days.ABSENT, "config": program.sha256})
    log.info(
        "staged %s: %d rows = %d accepted + %d duplicates + %d excluded + %d quarantined",
        path.name,
        counts["rows_received"],
        counts["accepted"],
        counts["duplicates"],
        counts["excluded"],
        counts["quarantined"],
    )
    return {
        "rows_received": counts["rows_received"],
        "accepted": counts["accepted"],
        "duplicates": counts["duplicates"],
        "excluded": counts["excluded"],
        "quarantined": counts["quarantined"],
    }
