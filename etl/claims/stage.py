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
from collections.abc import Generator, Iterator
from contextlib import closing
from pathlib import Path
from typing import TypedDict

from sqlalchemy.engine import Connection

from etl.claims.counts import Counts, check_reconciles, count_report, empty_counts
from etl.claims.delivery import claims_path
from etl.claims.parse import CLAIM_VALUE_COLUMNS, iter_claim_values, load_services
from etl.core.clock import audit_now
from etl.core.config import Program
from etl.core.errors import InboxFileError
from etl.io.csvfile import MalformedFileError
from etl.io.lock import writer
from etl.io.read_ahead import read_ahead
from etl.io.warehouse import BulkWriter, Warehouse
from etl.ledger import days

log = logging.getLogger(__name__)
_OUTCOME_COUNT = {"accepted": "accepted", "excluded": "excluded", "duplicate": "duplicates"}


class StageResult(TypedDict):
    rows_received: int
    accepted: int
    duplicates: int
    excluded: int
    quarantined: int


_BATCH = 10_000  # rows per insert: memory follows the batch, not the file
_QUARANTINE_CHARS = 16 << 20  # quarantined raw text held before it is inserted (one record may be 16 MiB)
# insert_delivery's parameters, in order: the tuples _load builds (checked against the SQL file).
_DELIVERY_ROW = ("run_date", "line_no", *CLAIM_VALUE_COLUMNS, "outcome")
_KAKAO_CORP = CLAIM_VALUE_COLUMNS.index("kakao_corp")


def _load(
    conn: Connection,
    records: Iterator[tuple[int, tuple | None, dict | None]],
    source_file: str,
    run_date: str,
    counts: Counts,
) -> None:
    """Stream the file's records into the warehouse in batches, counting what was received and quarantined.

    Valid rows go in as tuples (on PostgreSQL through one COPY, paused only to insert quarantined rows).
    """
    if Warehouse.parameters("insert_delivery") != _DELIVERY_ROW:
        raise RuntimeError(f"insert_delivery.sql's parameters are not {_DELIVERY_ROW}: staging builds its rows so")
    rows: list[tuple] = []
    quarantined: list[dict] = []
    quarantined_chars = 0
    reasons: Counter[str] = Counter()
    received = 0
    with BulkWriter(conn, "insert_delivery", copy="copy_deliveries") as deliveries:
        for line_no, values, bad in records:
            received += 1
            if values is not None:
                rows.append((run_date, line_no, *values, "accepted" if values[_KAKAO_CORP] else "excluded"))
                if len(rows) >= _BATCH:
                    deliveries.write(rows)
                    rows.clear()
            elif bad is not None:
                reasons[bad["reason"]] += 1
                quarantined.append({**bad, "run_date": run_date, "source_file": source_file})
                quarantined_chars += len(bad["raw"])
                if len(quarantined) >= _BATCH or quarantined_chars >= _QUARANTINE_CHARS:
                    deliveries.pause()
                    Warehouse.executemany(conn, "insert_quarantine", quarantined)
                    quarantined.clear()
                    quarantined_chars = 0
        deliveries.write(rows)
    Warehouse.executemany(conn, "insert_quarantine", quarantined)
    counts["rows_received"] += received
    counts["quarantined"] = sum(reasons.values())
    counts["quarantined_by_reason"] = dict(reasons)


def _classify(conn: Connection, run_date: str, counts: Counts) -> None:
    """Re-deliveries (a receipt's later lines in the file, or one delivered on an earlier day) count once;
    the table's counts follow each receipt's effective (latest) version."""
    Warehouse.run(conn, "mark_repeated_in_day", run_date=run_date)
    previous = Warehouse.rows(conn, "previous_versions", run_date=run_date, redelivered_only=0)
    Warehouse.executemany(conn, "mark_redelivered", ({"run_date": run_date, "receipt_no": r["receipt_no"]}
                                                    for r in previous))  # fmt: skip
    for r in Warehouse.rows(conn, "day_outcome_counts", run_date=run_date):
        counts[_OUTCOME_COUNT[r["outcome"]]] += int(r["n"])  # type: ignore[literal-required]
    receipts = 0
    for group in Warehouse.rows(conn, "day_effective_versions", run_date=run_date):
        count_report(counts, group, int(group["receipts"]))
        receipts += int(group["receipts"])
    for prev in previous:
        count_report(counts, prev, -1)
    counts["reports_received"] = receipts - len(previous)


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


def _no_records() -> Generator[tuple[int, tuple | None, dict | None], None, None]:
    """A day after the window: no claims file, no records."""
    yield from ()


def _stage(wh: Warehouse, inbox: Path, program: Program, day: dt.date, run_id: str) -> StageResult:
    run_date = day.isoformat()
    path = claims_path(inbox, day)
    counts = empty_counts()
    # After the window a day has no claims (check_life refused any file): it stages an empty day.
    data_sha = days.file_sha256(path) if program.in_window(day) and os.path.lexists(path) else None
    services = load_services(program.services_path)
    records = _no_records()
    if program.in_window(day):
        # Parsed on another thread while the rows before are inserted (each releases the GIL for its native work).
        records = read_ahead(iter_claim_values(path, services, day=day, outage_date=program.outage_date))
    try:
        with wh.begin() as conn:
            Warehouse.run(conn, "reset_day", run_date=run_date)
            with closing(records):  # on any error: the read-ahead stops, the file is closed
                _load(conn, records, path.name, run_date, counts)
            Warehouse.analyze(conn, "analyze_staged_day")
            _classify(conn, run_date, counts)
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
    except MalformedFileError as exc:
        raise InboxFileError(f"claims file for {day} unusable: {exc}; nothing published for this day") from None
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
