"""Step 1 of the rollout, `plan_rollout`: one pass over the directory into staging, then the pass cutoff.

Pass 1 streams the directory's batches (readers) into one staging bucket per shard (staging) and the
bad rows into rejected_users.csv; pass 2 settles each bucket (dedupe: the last row of a user wins)
and feeds the eligible opt-ins to the bounded selection that fixes the pass cutoff (cutoff). When
every bucket's ids increase (a sorted dump: no repeats), pass 1 settles the buckets as it goes
(dedupe.SortedBuckets) and pass 2 only renames them. The plan
(counts, cutoff, shards) is written to plan.json for the other steps, which may run in other
processes. A re-run with the same directory file (same size and mtime), config and shard size reuses
the plan; anything else re-plans from scratch.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import math
import shutil
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from etl.core.config import Program
from etl.core.errors import ReliefError
from etl.core.settings import Settings
from etl.io.outbox import begin_folder, ensure_dir, sha256_file, write_json
from etl.rollout.common import Progress, as_date, default_shard_size, worker_count
from etl.rollout.cutoff import TopK, find_cutoff
from etl.rollout.dedupe import SortedBuckets, dedupe_bucket
from etl.rollout.readers import CsvSource, ParquetSource, find_directory, open_source
from etl.rollout.results import Fingerprint, Plan, PlanCounts, ShardStats
from etl.rollout.staging import REJECTED, REJECTED_HEADER, BucketStreams, Paths

log = logging.getLogger(__name__)

PLAN_VERSION = 2


def plan_rollout(
    settings: Settings,
    program: Program,
    day: dt.date | str | None = None,
    shard_size: int | None = None,
    run_id: str | None = None,
) -> Plan:
    """Scan the directory once, stage it in hash buckets, and fix the pass cutoff. Returns the plan."""
    day = as_date(day, program)
    shard_size = shard_size or default_shard_size()
    if shard_size <= 0:
        raise ReliefError("the shard size must be > 0")
    paths = Paths.of(settings, day)
    path = find_directory(settings.inbox)
    source = open_source(path)  # reads the header: a bad file fails here, before anything is touched
    fingerprint = _fingerprint(path, program, day, shard_size)
    old = _reusable_plan(paths, fingerprint)
    if old is not None:
        log.info("rollout %s: reusing the plan of run %s (%d shards)", day, old["run_id"], len(old["shards"]))
        return old

    t0 = time.monotonic()
    begin_folder(paths.grants)  # unpublish first: the folder is incomplete until the manifest is back
    if paths.work.exists():
        shutil.rmtree(paths.work)
    ensure_dir(paths.work)
    n_shards = max(1, math.ceil(source.estimated_rows / shard_size))
    if n_shards > 65535:
        raise ReliefError(f"{n_shards} shards is too many: raise the shard size")
    log.info(
        "rollout %s: scanning %s (%d bytes, ~%d users) into %d shards",
        day,
        path.name,
        source.size,
        source.estimated_rows,
        n_shards,
    )
    scanned = SortedBuckets(n_shards, program.talk_drawer_cap)
    rows, reasons = _scan(source, program, paths, path.name, scanned, day)
    source_sha = source.digest.hexdigest() if source.digest is not None else sha256_file(path)
    shard_stats, top = _settle_buckets(paths, n_shards, program.talk_drawer_cap, scanned)
    plan: Plan = {
        "fingerprint": fingerprint,
        "run_id": run_id or f"rollout-{day.isoformat()}-{uuid.uuid4().hex[:12]}",
        "day": day.isoformat(),
        "source": {"file": path.name, "bytes": source.size, "sha256": source_sha},
        "shards": list(range(n_shards)),
        "shard_stats": shard_stats,
        "cutoff": find_cutoff(paths, n_shards, top, program.talk_drawer_cap),
        "counts": _counts(rows, reasons, shard_stats, top.seen),
        "seconds": round(time.monotonic() - t0, 2),
    }
    write_json(paths.work, "plan.json", dict(plan))
    _log_planned(plan)
    return plan


def _log_planned(plan: Plan) -> None:
    counts = plan["counts"]
    log.info(
        "rollout %s: planned %d users (%d eligible, %d quarantined rows, %d duplicate rows) in %d shards, %.1fs",
        plan["day"],
        counts["users"],
        counts["eligible"],
        counts["quarantined"],
        counts["duplicate_rows"],
        len(plan["shards"]),
        plan["seconds"],
    )


def _fingerprint(path: Path, program: Program, day: dt.date, shard_size: int) -> Fingerprint:
    st = path.stat()
    return {
        "version": PLAN_VERSION,
        "source": path.name,
        "bytes": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "config_sha256": program.sha256,
        "day": day.isoformat(),
        "shard_size": shard_size,
    }


def _reusable_plan(paths: Paths, fingerprint: Fingerprint) -> Plan | None:
    """The plan on disk if it was made from the same file, config and shard size."""
    if not paths.plan.is_file():
        return None
    old: Plan = json.loads(paths.plan.read_text(encoding="utf-8"))
    return old if old.get("fingerprint") == fingerprint else None


def _scan(
    source: CsvSource | ParquetSource,
    program: Program,
    paths: Paths,
    source_name: str,
    scanned: SortedBuckets,
    day: dt.date,
) -> tuple[int, Counter[str]]:
    """Pass 1: each valid row to its bucket, each bad row to rejected_users.csv; each block's summary
    to `scanned`. Returns (rows, reasons)."""
    n_shards = len(scanned.optins)
    reasons: Counter[str] = Counter()
    rows = 0
    progress = Progress(f"rollout {day}: scanned", source.estimated_rows)
    with BucketStreams(paths) as buckets, open(paths.work / REJECTED, "w", encoding="utf-8", newline="") as rej:
        rej_csv = csv.writer(rej, lineterminator="\r\n")
        rej_csv.writerow(REJECTED_HEADER)
        for batch in source.batches(program, n_shards):
            rows += batch.rows
            if batch.bad:
                batch.bad.sort(key=lambda b: b[0])
                rej_csv.writerows((source_name, ln, r, raw) for ln, r, raw in batch.bad)
                reasons.update(r for _, r, _ in batch.bad)
            buckets.append(batch.good, batch.counts)
            scanned.add(batch.summary)
            progress.update(rows)
    progress.update(rows, force=True)
    return rows, reasons


def _settle_buckets(paths: Paths, n_shards: int, cap: int, scanned: SortedBuckets) -> tuple[list[ShardStats], TopK]:
    """Pass 2, per bucket: last row wins for a repeated user_id; eligible opt-ins feed the cutoff.

    When every bucket's ids increase (a sorted directory) no id repeats and the scan has settled
    them already: the buckets become the shards' staging as they are.
    """
    if scanned.ok:
        return [scanned.settle(paths, k) for k in range(n_shards)], scanned.top
    top = TopK(cap)
    shard_stats = []
    with ThreadPoolExecutor(worker_count()) as pool:  # numpy and pyarrow release the GIL
        for stats, cand in pool.map(lambda k: dedupe_bucket(paths, k), range(n_shards)):
            top.add(cand)
            shard_stats.append(stats)
    return shard_stats, top


def _counts(rows: int, reasons: Counter[str], shard_stats: list[ShardStats], eligible_optins: int) -> PlanCounts:
    """The plan's row accounting, checked: rows_received = users + duplicate_rows + quarantined."""
    valid = sum(s["rows_staged"] for s in shard_stats)
    users = sum(s["users"] for s in shard_stats)
    quarantined = sum(reasons.values())
    counts: PlanCounts = {
        "rows_received": rows,
        "quarantined": quarantined,
        "quarantined_by_reason": dict(sorted(reasons.items())),
        "duplicate_rows": valid - users,
        "users": users,
        "ineligible_withdrawn": sum(s["withdrawn"] for s in shard_stats),
        "ineligible_joined_after": sum(s["joined_after"] for s in shard_stats),
        "eligible": sum(s["eligible"] for s in shard_stats),
        "eligible_optins": eligible_optins,
    }
    if rows != users + counts["duplicate_rows"] + quarantined:
        raise AssertionError(f"row accounting does not add up: {counts}")
    return counts
