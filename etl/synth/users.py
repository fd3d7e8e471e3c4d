"""The synthetic KakaoTalk user directory for the rollout: `users.csv` or `users.parquet` in the inbox.

Columns per CONTRACT.md: `user_id, status, joined_at, talk_drawer_optin_at`. The mix:

- `user_id`: `u` + 9 digits, fixed width (so text order and numeric order agree), in file order;
- status: about 86% active, 9.5% dormant, 4.5% withdrawn;
- joined_at: about 97% between KakaoTalk's launch (2010-03-18) and the outage day (2022-10-15),
  3% after it (up to the day before the rollout): those are not eligible;
- talk_drawer_optin_at: about 9% of users opted in (eligible or not), at whole seconds from
  2022-12-30 10:00 KST (the plan's announcement) on, about four opt-ins per second on average, so
  timestamps tie often. 9% of 48M is 4.32M opt-ins (about 4.0M of them eligible) for 3M passes; the
  share is the same at every size, so a cap lowered in proportion (cap x N / 48M) is still contested.

Generation is chunked (fixed chunks of 1M users, each with its own seeded generator), so the file is
the same for a seed whatever the memory, and memory stays flat at any N. `malformed` and `duplicates`
append bad rows and repeated user_ids at the end, for tests of the rollout's quarantine and dedup.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from etl.core.config import Program

log = logging.getLogger(__name__)

COLUMNS = ["user_id", "status", "joined_at", "talk_drawer_optin_at"]
CHUNK = 1_000_000
STATUSES = ("active", "dormant", "withdrawn")
STATUS_P = (0.86, 0.095, 0.045)
JOINED_AFTER_SHARE = 0.03
OPTIN_SHARE = 0.09
OPTINS_PER_SECOND = 4
KAKAOTALK_LAUNCH = dt.date(2010, 3, 18)
OPTIN_START_KST = dt.datetime(2022, 12, 30, 10, 0, 0)  # naive, KST wall time
EPOCH = dt.date(1970, 1, 1)

# The malformed rows `malformed=N` appends (cycled): each breaks one rule, with the reason the rollout gives.
MALFORMED = [
    ("u9{n:08d},suspended,2015-01-01,", "bad_status"),
    ("u9{n:08d},active,2015-02-30,", "bad_joined_at"),
    ("u9{n:08d},active,2015-01-01,2022-12-31 25:61:00", "bad_talk_drawer_optin_at"),
    (",active,2015-01-01,", "empty_user_id"),
    ("u9{n:08d},active", "wrong_field_count"),
    ("u9{n:08d},active,2015-01-01,2022-12-30T10:00:00", "bad_talk_drawer_optin_at"),  # no offset
]


@dataclass(frozen=True)
class _Mix:
    """What every chunk is drawn from, besides its own generator: the opt-in window and the two dates."""

    seed: int
    window_s: int  # opt-ins fall in this many seconds after the announcement
    cutoff: dt.date  # eligible_joined_on_or_before
    rollout: dt.date


def generate_users(
    inbox: Path,
    program: Program,
    n_users: int = 100_000,
    seed: int = 1015,
    fmt: str = "csv",
    *,
    malformed: int = 0,
    duplicates: int = 0,
) -> dict[str, Any]:
    """Write the user directory (`users.csv` or `users.parquet`) and return what it holds.

    `malformed` appends that many broken rows (CSV only; in Parquet the typed columns cannot hold
    most of them, so only bad statuses and empty ids are appended), `duplicates` appends that many
    rows repeating the first users' ids with status `withdrawn` (the later row wins in the rollout).
    The other format's file, if any, is removed so the inbox holds exactly one directory.
    """
    if n_users < 0 or malformed < 0 or duplicates < 0 or duplicates > n_users:
        raise ValueError("n_users, malformed and duplicates must be >= 0, duplicates <= n_users")
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be csv or parquet, not {fmt!r}")
    inbox = Path(inbox)
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox / f"users.{fmt}"
    other = inbox / ("users.parquet" if fmt == "csv" else "users.csv")
    tmp = inbox / f".users.{fmt}.{os.getpid()}.tmp"
    window_s = max(600, int(n_users * OPTIN_SHARE / OPTINS_PER_SECOND))
    mix = _Mix(seed, window_s, program.eligible_joined_on_or_before, program.rollout_date)
    totals: dict[str, int] = {}
    t0 = time.monotonic()
    try:
        with open(tmp, "wb") as fh:
            tables = _chunks(mix, n_users, totals, t0)
            if fmt == "csv":
                _write_csv(fh, tables, _extra_csv_lines(malformed, duplicates))
            else:
                _write_parquet(fh, tables, _extra_parquet_table(malformed, duplicates), mix)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o640)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    other.unlink(missing_ok=True)
    return {
        "file": str(target),
        "format": fmt,
        "seed": seed,
        "users": n_users,
        "rows": n_users + duplicates + malformed,
        "malformed_rows": malformed,
        "duplicate_rows": duplicates,
        **totals,
        "seconds": round(time.monotonic() - t0, 2),
    }


def _chunks(mix: _Mix, n_users: int, totals: dict[str, int], t0: float) -> Iterator[pa.Table]:
    """The users in chunks of CHUNK, in order; each chunk's counts are added to `totals` as it goes."""
    for index, start in enumerate(range(0, n_users, CHUNK)):
        stop = min(start + CHUNK, n_users)
        t = _chunk(mix, index, start, stop)
        for k, v in _stats(t, mix.cutoff).items():
            totals[k] = totals.get(k, 0) + v
        yield t
        elapsed = time.monotonic() - t0
        log.info("generated %d / %d users (%.0f users/s)", stop, n_users, stop / max(elapsed, 1e-9))


def _write_csv(fh: BinaryIO, tables: Iterator[pa.Table], extra: list[str]) -> None:
    fh.write((",".join(COLUMNS) + "\n").encode())
    opts = pacsv.WriteOptions(include_header=False, quoting_style="none")
    for t in tables:
        pacsv.write_csv(_to_csv_table(t), fh, opts)
    fh.write("".join(line + "\n" for line in extra).encode())


def _write_parquet(fh: BinaryIO, tables: Iterator[pa.Table], extra: pa.Table, mix: _Mix) -> None:
    """One row group per chunk, then the extra rows; no users at all gives an empty, typed file."""
    writer = None
    try:
        for t in tables:
            out = _to_parquet_table(t)
            writer = writer or pq.ParquetWriter(fh, out.schema, compression="zstd")
            writer.write_table(out, row_group_size=CHUNK)
        if extra.num_rows:
            if writer is None:
                writer = pq.ParquetWriter(fh, extra.schema, compression="zstd")
            writer.write_table(extra)
        if writer is None:
            pq.write_table(_to_parquet_table(_chunk(mix, 0, 0, 0)), fh)
    finally:
        if writer is not None:
            writer.close()


def _user_ids(start: int, stop: int) -> pa.Array:
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(start + 1, stop + 1, dtype=np.int64)), pa.string()), 9, "0")
    return pc.binary_join_element_wise("u", digits, "")


def _chunk(mix: _Mix, index: int, start: int, stop: int) -> pa.Table:
    """Users start+1..stop, drawn from their own generator (seeded by the seed and the chunk index)."""
    rng = np.random.default_rng([mix.seed, index])
    n = stop - start
    status_idx = np.searchsorted(np.cumsum(STATUS_P), rng.random(n), side="right").clip(0, 2).astype(np.int8)
    status = pa.DictionaryArray.from_arrays(pa.array(status_idx), pa.array(STATUSES)).cast(pa.string())

    before_lo, before_hi = (KAKAOTALK_LAUNCH - EPOCH).days, (mix.cutoff - EPOCH).days
    after_lo, after_hi = before_hi + 1, (mix.rollout - EPOCH).days - 1
    after = rng.random(n) < JOINED_AFTER_SHARE
    days = np.where(after, rng.integers(after_lo, after_hi + 1, n), rng.integers(before_lo, before_hi + 1, n))
    joined = pa.array(days.astype(np.int32), type=pa.date32())

    opted = rng.random(n) < OPTIN_SHARE
    # Front-loaded: more people opt in soon after the announcement; whole seconds, so ties are common.
    offsets = (mix.window_s * rng.random(n) ** 2).astype(np.int64)
    base = int((OPTIN_START_KST - dt.datetime(1970, 1, 1)).total_seconds())
    wall = pa.array(np.where(opted, base + offsets, 0), type=pa.timestamp("s"), mask=~opted)
    return pa.table({"user_id": _user_ids(start, stop), "status": status, "joined_at": joined, "optin_wall": wall})


def _to_csv_table(t: pa.Table) -> pa.Table:
    optin = pc.strftime(t["optin_wall"], format="%Y-%m-%dT%H:%M:%S+09:00")
    return pa.table(
        {"user_id": t["user_id"], "status": t["status"], "joined_at": t["joined_at"], "talk_drawer_optin_at": optin}
    )


def _to_parquet_table(t: pa.Table) -> pa.Table:
    # Wall time in KST -> the instant (UTC) it names, typed as a timestamp with the KST offset.
    utc = pc.subtract(t["optin_wall"].cast(pa.int64()), 9 * 3600).cast(pa.timestamp("s", tz="+09:00"))
    return pa.table(
        {"user_id": t["user_id"], "status": t["status"], "joined_at": t["joined_at"], "talk_drawer_optin_at": utc}
    )


def _stats(t: pa.Table, cutoff: dt.date) -> dict[str, int]:
    status = t["status"]
    withdrawn = pc.equal(status, "withdrawn")
    after = pc.greater(t["joined_at"], pa.scalar(cutoff, pa.date32()))
    eligible = pc.and_not(pc.invert(withdrawn), after)
    opted = pc.is_valid(t["optin_wall"])
    return {
        "active": pc.sum(pc.equal(status, "active")).as_py() or 0,
        "dormant": pc.sum(pc.equal(status, "dormant")).as_py() or 0,
        "withdrawn": pc.sum(withdrawn).as_py() or 0,
        "joined_after_cutoff": pc.sum(after).as_py() or 0,
        "eligible": pc.sum(eligible).as_py() or 0,
        "optins": pc.sum(opted).as_py() or 0,
        "eligible_optins": pc.sum(pc.and_(eligible, opted)).as_py() or 0,
    }


def _extra_csv_lines(malformed: int, duplicates: int) -> list[str]:
    """Bad lines (MALFORMED, cycled), then lines repeating the first users' ids as withdrawn."""
    lines = [MALFORMED[i % len(MALFORMED)][0].format(n=i) for i in range(malformed)]
    lines += [f"u{i + 1:09d},withdrawn,2015-01-01," for i in range(duplicates)]
    return lines


def _extra_parquet_table(malformed: int, duplicates: int) -> pa.Table:
    """What Parquet's typed columns can hold of the bad rows (bad statuses, empty ids), then the repeated ids."""
    dup_ids = [f"u{i + 1:09d}" for i in range(duplicates)]
    ids = [("" if i % 2 else f"u9{i:08d}") for i in range(malformed)] + dup_ids
    status = ["suspended" if i % 2 == 0 else "active" for i in range(malformed)] + ["withdrawn"] * duplicates
    return pa.table(
        {
            "user_id": pa.array(ids, pa.string()),
            "status": pa.array(status, pa.string()),
            "joined_at": pa.array([dt.date(2015, 1, 1)] * len(ids), pa.date32()),
            "talk_drawer_optin_at": pa.array([None] * len(ids), pa.timestamp("s", tz="+09:00")),
        }
    )
