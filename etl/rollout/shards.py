"""Step 2 of the rollout, `build_shard(k)`: one shard's grants file, written atomically, with its done-marker.

Reads shard k's staging, gives every eligible user `relief_base`, or `relief_base_td` when its
(opt-in, user_id) is at or before the plan's cutoff, and writes `grants/DAY/part-0000k.csv`
(temp name, fsync, rename) and a done-marker with its SHA-256. The same staging gives the same
bytes, so a retried or re-run shard is byte-identical; a shard already built and intact is kept.
The DAG maps this step over the shards, so a failed shard retries alone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import logging
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from etl.core.config import Program
from etl.core.errors import ReliefError
from etl.core.settings import Settings
from etl.io.outbox import sha256_file, write_atomic, write_json
from etl.rollout.arrow import from_numpy, strings, values
from etl.rollout.common import BASE, TD, as_date
from etl.rollout.cutoff import gets_pass
from etl.rollout.results import Plan, ShardMarker
from etl.rollout.staging import ELIGIBLE, Paths, load_plan, read_stage, shard_name

log = logging.getLogger(__name__)


def build_shard(
    settings: Settings,
    program: Program,
    day: dt.date | str | None,
    shard: int,
    cpu_slots: threading.Semaphore | None = None,
) -> ShardMarker:
    """Write grants/DAY/part-NNNNN.csv for one shard (skipped if already built and intact).

    `cpu_slots` (run_rollout): held while the shard is computed, released while its file is
    written and synced, so that more shards than cores can be in flight and the disk's waits
    overlap with the next shards' work.
    """
    day = as_date(day, program)
    paths = Paths.of(settings, day)
    plan = load_plan(settings, day)
    k = int(shard)
    if k not in plan["shards"]:
        raise ReliefError(f"shard {k} is not in the plan (0..{len(plan['shards']) - 1})")
    done = marker_ok(paths, k)
    if done is not None:
        log.info("shard %d/%d already built (%d users): kept", k + 1, len(plan["shards"]), done["rows"])
        return done
    t0 = time.monotonic()
    with cpu_slots or contextlib.nullcontext():
        table = _eligible_rows(paths, plan, k)
        td = gets_pass(table, plan["cutoff"])
        data = _grants_csv(table, td)
        name = shard_name(k)
        n_td = int(np.count_nonzero(td))
        marker: ShardMarker = {
            "shard": k,
            "file": name,
            "rows": table.num_rows,
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            BASE: table.num_rows - n_td,
            TD: n_td,
        }
        del table, td
    write_atomic(paths.grants / name, data)
    del data
    write_json(paths.work, paths.marker(k).name, dict(marker))
    secs = time.monotonic() - t0
    log.info(
        "shard %d/%d: %d users (%d with the pass) in %.2fs, %.0f users/s",
        k + 1,
        len(plan["shards"]),
        marker["rows"],
        n_td,
        secs,
        marker["rows"] / max(secs, 1e-9),
    )
    return marker


def marker_ok(paths: Paths, k: int, checked: ShardMarker | None = None) -> ShardMarker | None:
    """The shard's done-marker if the shard is there and intact (size and SHA-256), else None.

    `checked`: the marker this process has just written or verified for the shard (run_rollout);
    if the marker on disk is still that one, the file's size is checked but it is not hashed again.
    """
    try:
        marker: ShardMarker = json.loads(paths.marker(k).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    final = paths.grants / marker["file"]
    if not (final.is_file() and final.stat().st_size == marker["bytes"]):
        return None
    if checked is not None and checked == marker:
        return marker
    return marker if sha256_file(final) == marker["sha256"] else None


def _eligible_rows(paths: Paths, plan: Plan, k: int) -> pa.Table:
    """Shard k's staged rows of eligible users, in staging order."""
    stage = paths.shard_stage(k)
    if not stage.exists() and plan["shard_stats"][k]["users"]:
        raise ReliefError(f"the staging of shard {k} is gone ({stage}): re-run the plan step")
    table = read_stage(stage)
    eligible = values(table["inel"], np.int8) == ELIGIBLE
    if not eligible.all():
        table = table.filter(from_numpy(eligible, pa.bool_()))
    return table


def _grants_csv(table: pa.Table, td: np.ndarray) -> bytes:
    """The part file: `user_id,bundle_code` with CRLF line ends, the bundle by the pass mask `td`."""
    bundle = pc.take(strings([BASE, TD]), from_numpy(td.astype(np.int8), pa.int8()))
    out = pa.Table.from_arrays([table["user_id"], pa.chunked_array([bundle])], names=["user_id", "bundle_code"])
    sink = io.BytesIO()
    sink.write(b"user_id,bundle_code\r\n")
    if out.num_rows:
        pacsv.write_csv(out, sink, pacsv.WriteOptions(include_header=False, quoting_style="none", eol="\r\n"))
    return sink.getvalue()
