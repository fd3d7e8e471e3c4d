"""The January 5 rollout: one bundle for every eligible KakaoTalk user, in shards, in bounded memory.

Rules (CONTRACT.md §2, numbers from the program config):
- eligible: `joined_at` on or before `eligible_joined_on_or_before` and `status` not `withdrawn`;
- every eligible user gets `relief_base`; the first `talk_drawer_cap` *eligible* users by
  `talk_drawer_optin_at` (ties: `user_id`, compared as text, byte order) get `relief_base_td` instead.
  Only eligible users compete for the passes: a withdrawn or late-joined user never takes a pass;
- a user_id listed more than once gets one bundle: its *last* valid row in the directory wins (the
  newest entry of the dump); the earlier rows are counted as `duplicate_rows`;
- a malformed row (wrong field count, empty or quoted user_id, unknown status, bad date, bad
  timestamp or one without an offset) goes to `rejected_users.csv` with its line and a reason, and
  is counted in the manifest: rows_received = users + duplicate_rows + quarantined.

Three steps, each one function (the DAG maps `build_shard` over the shards; `run_rollout` runs
them all in one process):

1. `plan_rollout`: one streaming pass over the directory (blocks of whole lines of at most 32 MB,
   read into reused buffers; two worker threads parse them with pyarrow, check them as vector
   operations, hash the user_ids and split them by bucket, since pyarrow and numpy release the GIL)
   writes each valid row to one of S staging buckets by a hash of its user_id, so all rows of a user
   land in the same bucket, in directory order. Then per bucket: drop the duplicates (a bucket whose
   ids are strictly increasing, as in a sorted dump, has none; otherwise hashes find the suspects)
   and feed the eligible opt-ins' timestamps to a bounded selection that finds the pass cutoff (the
   cap-th smallest (optin_at, user_id)); memory grows with the cap (3M int64), never with N.
   Staging lives in `<outbox>/.work/grants-DAY/` (0750) and plan.json records the cutoff and counts.
2. `build_shard(k)`: reads bucket k, assigns bundles against the cutoff, writes
   `grants/DAY/part-0000k.csv` atomically (temp name, fsync, rename) and a done-marker with its
   SHA-256. Same staging -> same bytes, so a retried or re-run shard is byte-identical.
3. `finish_rollout`: checks every shard against its marker, writes `manifest.json` last (bundles,
   items with face values and validity, counts per bundle and item, rows and SHA-256 per shard),
   the budget report, and removes the staging.

A re-run with the same directory file (same size and mtime), config and shard size reuses the plan
and skips shards already built and intact; anything else re-plans from scratch.

Start-up counts at 1M users: the hot path builds and reads arrow arrays through their buffers
(pyarrow's numpy bridge imports pandas, ~0.25 s), and the budget reads a SQLite warehouse with
sqlite3 (SQLAlchemy is imported only for another database).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import math
import os
import shutil
import time
import uuid
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc

from etl.core.config import Program
from etl.core.errors import InboxFileError, ReliefError
from etl.io.outbox import (
    FILE_MODE,
    WrittenFile,
    begin_folder,
    ensure_dir,
    finish_folder,
    sha256_file,
    write_atomic,
    write_json,
)
from etl.core.settings import Settings

log = logging.getLogger(__name__)

COLUMNS = ["user_id", "status", "joined_at", "talk_drawer_optin_at"]
STATUSES = ["active", "dormant", "withdrawn"]
_STATUS_SET = None  # _strings(STATUSES), made on first use (the helper is defined below)
BASE, TD = "relief_base", "relief_base_td"
DEFAULT_SHARD_SIZE = 1_000_000
BLOCK_BYTES = 32 << 20
MIN_BLOCK_BYTES = 4 << 20
PLAN_VERSION = 2
REJECTED = "rejected_users.csv"
REJECTED_HEADER = ["source_file", "line_no", "reason", "raw"]
NO_OPTIN = np.iinfo(np.int64).max  # sentinel: never opted in (sorts after every timestamp)
# Why a row is quarantined, in the order the checks run.
REASONS = {
    "wrong_field_count": "the line does not have the header's 4 fields",
    "invalid_utf8": "the line holds bytes that are not UTF-8",
    "empty_user_id": "user_id is empty",
    "bad_user_id": "user_id holds a quote character",
    "bad_status": "status is not active, dormant or withdrawn",
    "bad_joined_at": "joined_at is not a date (YYYY-MM-DD)",
    "bad_talk_drawer_optin_at": "talk_drawer_optin_at is not an ISO 8601 timestamp with an offset",
}
# Ineligibility codes kept in staging.
ELIGIBLE, WITHDRAWN, JOINED_AFTER = 0, 1, 2
# A bucket holds its rows in directory order (blocks in order, a stable split within each block), so
# a row's position in its bucket orders it like its line number: no line numbers are staged.
STAGE_SCHEMA = pa.schema([("user_id", pa.string()), ("inel", pa.int8()), ("optin_us", pa.int64())])
_HASH_TABLE = np.random.default_rng(20230105).integers(0, 2**63, size=(64, 256), dtype=np.uint64) | np.uint64(1)
_WORD_MULT = np.random.default_rng(1015).integers(0, 2**63, size=64, dtype=np.uint64) | np.uint64(1)


# ---------------------------------------------------------------------------------------------
# numpy <-> arrow without pyarrow's pandas bridge
#
# `Array.to_numpy`, `pa.array(...)` and `pa.scalar(...)` import pandas on first use (about 0.25 s
# of start-up: a quarter of the whole job at 1M users). The hot path reads and builds arrays from
# their buffers instead; only the rare paths (malformed rows, Parquet input) may still use them.


def _chunks(col) -> list:
    return col.chunks if isinstance(col, pa.ChunkedArray) else [col]


def _valid_np(chunk) -> np.ndarray:
    """One array's validity as a bool mask."""
    n = len(chunk)
    if chunk.null_count == 0:
        return np.ones(n, dtype=bool)
    bits = np.frombuffer(chunk.buffers()[0], dtype=np.uint8)
    return np.unpackbits(bits, count=chunk.offset + n, bitorder="little")[chunk.offset :].astype(bool)


def _np(col, dtype, fill=0) -> np.ndarray:
    """The values of a fixed-width array (or chunked array) as numpy; a null reads as `fill`."""
    dtype = np.dtype(dtype)
    parts = []
    for chunk in _chunks(col):
        n = len(chunk)
        if not n:
            continue
        if chunk.null_count == n:
            parts.append(np.full(n, fill, dtype=dtype))
            continue
        if pa.types.is_boolean(chunk.type):
            bits = np.frombuffer(chunk.buffers()[1], dtype=np.uint8)
            vals = np.unpackbits(bits, count=chunk.offset + n, bitorder="little")[chunk.offset :].astype(dtype)
        else:
            vals = np.frombuffer(chunk.buffers()[1], dtype=dtype, count=n, offset=chunk.offset * dtype.itemsize)
        if chunk.null_count:
            vals = np.where(_valid_np(chunk), vals, np.asarray(fill, dtype=dtype))
        parts.append(vals)
    if not parts:
        return np.zeros(0, dtype=dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _valid(col) -> np.ndarray:
    parts = [_valid_np(c) for c in _chunks(col)]
    return np.concatenate(parts) if len(parts) != 1 else parts[0]


def _arrow(values: np.ndarray, type_: pa.DataType) -> pa.Array:
    """A numpy array of fixed-width values as an arrow array (zero-copy; bool is bit-packed)."""
    values = np.ascontiguousarray(values)
    if pa.types.is_boolean(type_):
        return pa.Array.from_buffers(type_, len(values), [None, pa.py_buffer(np.packbits(values, bitorder="little"))])
    return pa.Array.from_buffers(type_, len(values), [None, pa.py_buffer(values)])


def _strings(values: list[str]) -> pa.Array:
    data = [v.encode("utf-8") for v in values]
    offsets = np.concatenate(([0], np.cumsum([len(d) for d in data]))).astype(np.int32)
    return pa.Array.from_buffers(pa.string(), len(data), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))])


# ---------------------------------------------------------------------------------------------
# paths and small helpers


@dataclass(frozen=True)
class Paths:
    grants: Path  # outbox/grants/DAY: what the grant platform reads
    work: Path  # outbox/.work/grants-DAY: staging, plan.json, done-markers

    @classmethod
    def of(cls, settings: Settings, day: dt.date) -> "Paths":
        return cls(settings.outbox / "grants" / day.isoformat(), settings.outbox / ".work" / f"grants-{day.isoformat()}")

    def bucket(self, k: int) -> Path:
        return self.work / f"bucket-{k:05d}.arrow"

    def shard_stage(self, k: int) -> Path:
        return self.work / f"shard-{k:05d}.arrow"

    def marker(self, k: int) -> Path:
        return self.work / f"part-{k:05d}.done.json"

    @property
    def plan(self) -> Path:
        return self.work / "plan.json"


def shard_name(k: int) -> str:
    return f"part-{k:05d}.csv"


def default_shard_size() -> int:
    return int(os.environ.get("RELIEF_SHARD_SIZE") or DEFAULT_SHARD_SIZE)


def _as_date(day: dt.date | str | None, program: Program) -> dt.date:
    if day is None:
        return program.rollout_date
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    if day != program.rollout_date:
        raise ReliefError(
            f"the program's rollout date is {program.rollout_date} (rollout.date in {program.path}); "
            f"refusing to build grants for {day}"
        )
    return day


class _Progress:
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
                log.info("%s: %d / ~%d users (%.0f%%), %.0f users/s", self.what, done, self.total,
                         100.0 * done / self.total, rate)
            else:
                log.info("%s: %d users, %.0f users/s", self.what, done, rate)


# ---------------------------------------------------------------------------------------------
# the user directory: finding it and reading it in validated batches


def find_directory(inbox: Path) -> Path:
    """The inbox's users.csv or users.parquet; a clear error if it is missing, unreadable or ambiguous."""
    inbox = Path(inbox)
    if not inbox.is_dir():
        raise InboxFileError(f"inbox {inbox} is not a folder: the user directory cannot be read; nothing published")
    try:
        names = set(os.listdir(inbox))
    except OSError as exc:
        raise InboxFileError(f"inbox {inbox} cannot be listed ({exc.strerror}); nothing published") from None
    found = [inbox / n for n in ("users.csv", "users.parquet") if n in names]
    if not found:
        raise InboxFileError(f"no users.csv or users.parquet in {inbox}: the user directory has not been delivered;"
                             " nothing published")
    if len(found) > 1:
        raise InboxFileError(f"both users.csv and users.parquet are in {inbox}: remove the one that is not current;"
                             " nothing published")
    path = found[0]
    if not path.is_file():
        raise InboxFileError(f"{path} is not a file; nothing published")
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise InboxFileError(f"{path} cannot be read ({exc.strerror}); nothing published") from None
    return path


@dataclass
class Batch:
    """Validated rows of one block: the good ones in staging form, the bad ones with reasons."""

    good: pa.Table  # STAGE_SCHEMA, ordered by bucket (directory order within a bucket)
    counts: np.ndarray  # rows of `good` per bucket
    bad: list[tuple[int | str, str, str]]  # (line_no, reason, raw)
    rows: int  # records seen (good + bad)


def _split(good: pa.Table, h: np.ndarray, n_buckets: int) -> tuple[pa.Table, np.ndarray]:
    """The rows ordered by bucket (stable: directory order within a bucket), and the rows per bucket."""
    if n_buckets == 1 or not good.num_rows:
        return good, np.array([good.num_rows] + [0] * (n_buckets - 1), dtype=np.int64)
    buckets = (h % np.uint64(n_buckets)).astype(np.uint16)
    order = np.argsort(buckets, kind="stable")
    counts = np.bincount(buckets, minlength=n_buckets)
    return good.take(_arrow(order.astype(np.int64), pa.int64())), counts


def _renumber(batch: Batch, first_line: int) -> Batch:
    if batch.bad:
        batch.bad = [(first_line + ln, reason, raw) for ln, reason, raw in batch.bad]
    return batch


class _CsvSource:
    """Reads users.csv in blocks of whole lines; pyarrow parses each block on all cores.

    Quote characters are not special (no field of this file needs quoting); a field wholly
    enclosed in quotes is unquoted. So every physical line is one record, and a broken line stays
    one bad record instead of swallowing the lines after it.
    """

    def __init__(self, path: Path, block_bytes: int | None = None):
        self.digest = hashlib.sha256()
        self.size = path.stat().st_size
        # At least ~8 blocks, so reading, parsing and checking overlap from the start even for a
        # small directory; at most BLOCK_BYTES, so memory stays flat for a large one.
        self.path = path
        self.block_bytes = block_bytes or min(BLOCK_BYTES, max(MIN_BLOCK_BYTES, self.size // 8))
        with open(path, "rb") as fh:
            head = fh.read(1 << 20)
        if not head.strip():
            raise InboxFileError(f"{path} is empty: the user directory has no header row; nothing published")
        first = head.split(b"\n", 1)[0]
        self.header_bytes = len(first) + 1
        text = first.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r").decode("utf-8", errors="replace")
        names = [n.strip().strip('"') for n in text.split(",")]
        if sorted(names) != sorted(COLUMNS):
            raise InboxFileError(f"{path}: the header is {text!r}, expected {','.join(COLUMNS)}; nothing published")
        self.names = names
        sample = head[self.header_bytes:]
        lines = sample.count(b"\n")
        avg = len(sample) / lines if lines else 32.0
        self.estimated_rows = max(1, int((self.size - self.header_bytes) / avg))

    def blocks(self, n_buffers: int = 2):
        """(number of bytes of whole lines, the block: a memoryview) for each block, in file order.

        Blocks are read into `n_buffers` buffers used in turn (no allocation, no copy per block):
        a block's buffer is read into again `n_buffers` blocks later, so the caller must be done
        with a block by then. The file's SHA-256 is computed on another thread as the blocks are
        read (hashlib releases the GIL).
        """
        size = self.block_bytes
        bufs = [bytearray(size) for _ in range(n_buffers)]
        turn = 0
        rest = b""
        with open(self.path, "rb", buffering=0) as fh, ThreadPoolExecutor(1) as hasher:
            pending = hasher.submit(self.digest.update, fh.read(self.header_bytes))
            while True:
                buf = bufs[turn]
                if len(rest) * 2 > len(buf):  # a line longer than half a block: a bigger buffer
                    buf = bufs[turn] = bytearray(2 * len(rest) + size)
                view = memoryview(buf)
                r = len(rest)
                view[:r] = rest
                got = fh.readinto(view[r:]) or 0
                pending.result()
                if not got:
                    if r:  # the last line has no newline (its bytes are hashed already)
                        tail = rest + b"\n"
                        yield len(tail), memoryview(tail)
                    return
                pending = hasher.submit(self.digest.update, view[r : r + got])
                total = r + got
                cut = buf.rfind(b"\n", 0, total)
                if cut < 0:
                    rest = bytes(view[:total])
                    continue
                rest = bytes(view[cut + 1 : total])
                turn = (turn + 1) % n_buffers
                yield cut + 1, view[: cut + 1]

    def _parse(self, block, invalid: list, use_threads: bool = True) -> pa.Table:
        def handler(row):
            invalid.append(row.text)
            return "skip"

        return pacsv.read_csv(
            pa.py_buffer(block),
            read_options=pacsv.ReadOptions(column_names=self.names, block_size=8 << 20, use_threads=use_threads),
            parse_options=pacsv.ParseOptions(quote_char=False, escape_char=False, newlines_in_values=False,
                                              invalid_row_handler=handler),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in COLUMNS},
                                                 strings_can_be_null=True, null_values=[""],
                                                 quoted_strings_can_be_null=True),
        )

    def _work(self, program: Program, block, n_buckets: int) -> tuple[Batch, int]:
        """One block, on a worker thread: parse, check, hash, split by bucket.

        Line numbers in the result count from 0 (the block's first line); the caller, which sees
        the blocks in order, adds the block's first line number. Returns (batch, lines in block).
        """
        buf = block.obj if isinstance(block, memoryview) else block
        n = len(block)
        n_lines = buf.count(b"\n", 0, n)
        quoted = buf.find(b'"', 0, n) >= 0
        invalid: list = []
        try:
            table = self._parse(block, invalid, use_threads=False)
        except pa.ArrowInvalid:
            table = None
        if table is not None and not invalid and table.num_rows == n_lines:
            line_nos, bad = None, []  # row i of the block is its line i
        else:
            table, line_nos, bad = self._slow_block(bytes(block), 0)
        good, h, more_bad = validate(table, line_nos, program, quoted=quoted, first_line=0)
        good, counts = _split(good, h, n_buckets)
        return Batch(good, counts, bad + more_bad, table.num_rows + len(bad)), n_lines

    def batches(self, program: Program, n_buckets: int = 1):
        """Batches in file order; blocks are worked on by a pool of threads (pyarrow and numpy
        release the GIL), a few blocks ahead of the one handed out."""
        workers = max(1, min(2, os.cpu_count() or 1))
        ahead = workers + 1  # blocks in flight
        line_no = 2
        inflight: deque = deque()
        with ThreadPoolExecutor(workers) as pool:
            # a block's buffer is reused `ahead + 1` blocks later: by then its batch has been handed out
            for _, block in self.blocks(n_buffers=ahead + 1):
                inflight.append(pool.submit(self._work, program, block, n_buckets))
                if len(inflight) >= ahead:
                    batch, n_lines = inflight.popleft().result()
                    yield _renumber(batch, line_no)
                    line_no += n_lines
            while inflight:
                batch, n_lines = inflight.popleft().result()
                yield _renumber(batch, line_no)
                line_no += n_lines

    def _slow_block(self, block: bytes, first_line: int):
        """A block with a bad line: find each line's field count, parse only the well-formed lines."""
        arr = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(arr == 10)
        starts = np.concatenate(([0], ends[:-1] + 1))
        commas = np.add.reduceat((arr == 44).astype(np.int32), starts) if len(starts) else np.zeros(0, np.int32)
        lengths = ends - starts
        # reduceat on an empty line reads the newline itself: 0 commas, as it should be.
        blank = (lengths == 0) | ((lengths == 1) & (arr[starts.clip(max=len(arr) - 1)] == 13))
        good_lines: list[bytes] = []
        good_nos: list[int] = []
        bad: list = []
        for i in np.flatnonzero(~blank):
            line = block[starts[i] : ends[i]].rstrip(b"\r")
            line_no = first_line + int(i)
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                bad.append((line_no, "invalid_utf8", line.decode("utf-8", errors="backslashreplace")))
                continue
            if commas[i] != len(COLUMNS) - 1:
                bad.append((line_no, "wrong_field_count", text))
                continue
            good_lines.append(line)
            good_nos.append(line_no)
        if good_lines:
            invalid: list = []
            table = self._parse(b"\n".join(good_lines) + b"\n", invalid)
            if invalid or table.num_rows != len(good_lines):  # should not happen: every line has 4 fields
                raise InboxFileError(f"{self.path}: a block near line {first_line} could not be parsed")
        else:
            table = pa.table({c: pa.array([], pa.string()) for c in self.names})
        return table, np.array(good_nos, dtype=np.int64), bad


class _ParquetSource:
    """Reads users.parquet in row batches; typed columns (date, timestamp) or text columns."""

    def __init__(self, path: Path, batch_rows: int = 1_000_000):
        import pyarrow.parquet as pq

        self.path, self.batch_rows = path, batch_rows
        try:
            self.file = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InboxFileError(f"{path} is not a readable Parquet file ({exc}); nothing published") from None
        names = self.file.schema_arrow.names
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise InboxFileError(f"{path}: columns {', '.join(missing)} are missing; nothing published")
        self.estimated_rows = self.file.metadata.num_rows
        self.size = path.stat().st_size
        self.digest = None

    def batches(self, program: Program, n_buckets: int = 1):
        row = 1
        for rb in self.file.iter_batches(batch_size=self.batch_rows, columns=COLUMNS):
            table = pa.Table.from_batches([rb])
            good, h, bad = validate(table, None, program, quoted=False, first_line=row)
            row += table.num_rows
            good, counts = _split(good, h, n_buckets)
            yield Batch(good, counts, bad, table.num_rows)


def _utc_offset_us(program: Program) -> int:
    from zoneinfo import ZoneInfo

    noon = dt.datetime.combine(program.rollout_date, dt.time(12), tzinfo=ZoneInfo(program.timezone))
    return int(noon.utcoffset().total_seconds()) * 1_000_000


def _unquote(col: pa.ChunkedArray) -> pa.ChunkedArray:
    wrapped = pc.and_(pc.starts_with(col, '"'), pc.and_(pc.ends_with(col, '"'), pc.greater_equal(pc.utf8_length(col), 2)))
    inner = pc.replace_substring(pc.utf8_slice_codeunits(col, 1, -1), '""', '"')
    return pc.if_else(wrapped, inner, col)


def _optin_us(col, program: Program) -> tuple[np.ndarray, np.ndarray]:
    """(microseconds since the epoch, UTC; NO_OPTIN when empty), and a mask of unparseable values."""
    n = len(col)
    if pa.types.is_timestamp(col.type):
        ts = col.cast(pa.timestamp("us", tz=col.type.tz)).cast(pa.int64())
        us = ts.to_numpy(zero_copy_only=False) if ts.null_count == 0 else pc.fill_null(ts, NO_OPTIN).to_numpy()
        us = np.asarray(us, dtype=np.int64)
        if col.type.tz is None:  # a naive timestamp is taken as wall time in the program's time zone
            us = np.where(us == NO_OPTIN, us, us - _utc_offset_us(program))
        return us, np.zeros(n, dtype=bool)
    if pa.types.is_date(col.type) or not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return np.full(n, NO_OPTIN, dtype=np.int64), pc.is_valid(col).to_numpy(zero_copy_only=False)
    present = _valid(col)
    try:  # strict ISO 8601 with a required offset: fast, and fails on the first odd value
        us = _np(pc.cast(col, pa.timestamp("us", tz="UTC")), np.int64, fill=NO_OPTIN)
        return us, np.zeros(n, dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    parsed = pc.strptime(col, format="%Y-%m-%dT%H:%M:%S%z", unit="s", error_is_null=True)
    # strptime rolls an impossible day (02-30) over: the date part must print back as given.
    day_part = pc.utf8_slice_codeunits(col, 0, 10)
    day_ok = pc.equal(pc.strftime(pc.strptime(day_part, format="%Y-%m-%d", unit="s", error_is_null=True),
                                  format="%Y-%m-%d"), day_part)
    parsed = pc.if_else(pc.fill_null(day_ok, False), parsed, pa.scalar(None, parsed.type))
    secs = pc.fill_null(parsed.cast(pa.int64()), NO_OPTIN).to_numpy()
    us = np.where(secs == NO_OPTIN, NO_OPTIN, secs * 1_000_000)
    failed = present & (secs == NO_OPTIN)
    bad = np.zeros(n, dtype=bool)
    if failed.any():  # rare: fractional seconds or other ISO 8601 forms; Python decides, row by row
        values = pc.take(col, pa.array(np.flatnonzero(failed))).to_pylist()
        for i, text in zip(np.flatnonzero(failed), values):
            try:
                stamp = dt.datetime.fromisoformat(text) if len(text) >= 19 and text[10] in "T " else None
            except ValueError:
                stamp = None
            if stamp is None or stamp.tzinfo is None:
                bad[i] = True
            else:
                delta = stamp - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
                us[i] = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return us, bad


def _joined_days(col) -> tuple[np.ndarray, np.ndarray]:
    """(days since the epoch, mask of bad values: empty or not a YYYY-MM-DD date)."""
    if pa.types.is_date(col.type):
        days = pc.fill_null(col.cast(pa.date32()).cast(pa.int32()), np.iinfo(np.int32).max).to_numpy()
        return days.astype(np.int64), pc.is_null(col).to_numpy(zero_copy_only=False)
    if pa.types.is_timestamp(col.type):
        return _joined_days(col.cast(pa.date32()))
    try:
        dates = pc.cast(col, pa.date32())  # strict ISO dates, fast; fails on the first bad value
        bad = ~_valid(dates)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        parsed = pc.strptime(col, format="%Y-%m-%d", unit="s", error_is_null=True)
        # strptime rolls 2015-02-30 over to March: a date is real only if it prints back as given.
        real = pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), col)
        dates = pc.if_else(real, parsed, pa.scalar(None, parsed.type)).cast(pa.date32())
        bad = ~_valid(dates)
    days = _np(dates, np.int32, fill=0)
    return days.astype(np.int64), bad


def _needs_trim(uid) -> bool:
    """Whether any user_id may start or end with white space (a cheap, conservative look at the bytes)."""
    for chunk in (uid.chunks if isinstance(uid, pa.ChunkedArray) else [uid]):
        if not len(chunk):
            continue
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]
        if chunk.buffers()[2] is None:
            continue
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)
        filled = offsets[1:] > offsets[:-1]
        first = data[offsets[:-1][filled]]
        last = data[offsets[1:][filled] - 1]
        # ASCII white space and separators are <= 0x20; any Unicode space starts with a byte >= 0x80
        if ((first <= 0x20) | (first >= 0x7F)).any() or ((last <= 0x20) | (last >= 0x7F)).any():
            return True
    return False


def _byte_lengths(uid) -> np.ndarray:
    """The byte length of each string (0 for a null), from the offsets."""
    parts = []
    for chunk in (uid.chunks if isinstance(uid, pa.ChunkedArray) else [uid]):
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[chunk.offset : chunk.offset + len(chunk) + 1] \
            if len(chunk) else np.zeros(1, np.int32)
        parts.append(np.diff(offsets))
    return np.concatenate(parts) if len(parts) != 1 else parts[0]


def validate(table: pa.Table, line_nos: np.ndarray | None, program: Program, quoted: bool = False,
             first_line: int = 1):
    """Check a parsed block: (good rows in staging form, their user_ids' hashes, [(line_no, reason, raw)]).

    `line_nos` gives each row's line; None means consecutive lines from `first_line`.
    """
    n = table.num_rows
    if n == 0:
        return STAGE_SCHEMA.empty_table(), np.zeros(0, dtype=np.uint64), []
    uid = table["user_id"]
    status = table["status"]
    if quoted:
        uid, status = _unquote(uid), _unquote(status)
        joined_col, optin_col = _unquote(table["joined_at"]), _unquote(table["talk_drawer_optin_at"])
    else:
        joined_col, optin_col = table["joined_at"], table["talk_drawer_optin_at"]
    if not pa.types.is_string(uid.type):
        uid = uid.cast(pa.string())
    if not pa.types.is_string(status.type):
        status = status.cast(pa.string())
    if _needs_trim(uid):
        uid = pc.utf8_trim_whitespace(uid)
    uid_len = _byte_lengths(uid)
    if uid.null_count:
        uid_len = np.where(_valid(uid), uid_len, 0)
    reason = np.zeros(n, dtype=np.int8)  # 0 good, else index into the reason list below + 1
    codes = ["empty_user_id", "bad_user_id", "bad_status", "bad_joined_at", "bad_talk_drawer_optin_at"]

    def mark(mask, code):
        mask = np.asarray(mask, dtype=bool)
        reason[(reason == 0) & mask] = codes.index(code) + 1

    mark(uid_len == 0, "empty_user_id")
    if quoted:
        mark(pc.fill_null(pc.match_substring(uid, '"'), False).to_numpy(zero_copy_only=False), "bad_user_id")
    global _STATUS_SET
    if _STATUS_SET is None:
        _STATUS_SET = _strings(STATUSES)
    st_np = _np(pc.index_in(status, value_set=_STATUS_SET), np.int32, fill=-1).astype(np.int8)
    mark(st_np < 0, "bad_status")
    days, bad_days = _joined_days(joined_col)
    mark(bad_days, "bad_joined_at")
    optin_us, bad_optin = _optin_us(optin_col, program)
    mark(bad_optin, "bad_talk_drawer_optin_at")

    bad_rows: list = []
    bad_idx = np.flatnonzero(reason)
    if len(bad_idx):
        raw_cols = [table[c].take(pa.array(bad_idx)).to_pylist() for c in COLUMNS]
        for j, i in enumerate(bad_idx):
            raw = ",".join("" if raw_cols[c][j] is None else _raw_text(raw_cols[c][j]) for c in range(len(COLUMNS)))
            line_no = int(line_nos[i]) if line_nos is not None else first_line + int(i)
            bad_rows.append((line_no, codes[reason[i] - 1], raw))
    cutoff = (program.eligible_joined_on_or_before - dt.date(1970, 1, 1)).days
    inel = np.where(st_np == STATUSES.index("withdrawn"), WITHDRAWN,
                    np.where(days > cutoff, JOINED_AFTER, ELIGIBLE)).astype(np.int8)
    if len(bad_idx):
        good = reason == 0
        uid, inel, optin_us = pc.filter(uid, _arrow(good, pa.bool_())), inel[good], optin_us[good]
    staged = pa.Table.from_arrays([uid, _arrow(inel, pa.int8()), _arrow(optin_us, pa.int64())], schema=STAGE_SCHEMA)
    return staged, hash_ids(uid), bad_rows


def _raw_text(value) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def _open_source(path: Path):
    return _ParquetSource(path) if path.suffix == ".parquet" else _CsvSource(path)


# ---------------------------------------------------------------------------------------------
# hashing user ids into buckets


def bucket_of(uid: pa.Array | pa.ChunkedArray, n_buckets: int) -> np.ndarray:
    """A stable hash of each user_id modulo n_buckets, as uint16 (n_buckets <= 65535)."""
    return (hash_ids(uid) % np.uint64(n_buckets)).astype(np.uint16)


_PAIR_TABLES: dict[int, np.ndarray] = {}


def _pair_table(j: int) -> np.ndarray:
    """_HASH_TABLE[j][lo] + _HASH_TABLE[j + 1][hi] for every 16-bit value lo + 256 * hi."""
    table = _PAIR_TABLES.get(j)
    if table is None:
        v = np.arange(65536)
        table = _PAIR_TABLES.setdefault(j, _HASH_TABLE[j][v & 0xFF] + _HASH_TABLE[j + 1][v >> 8])
    return table


def hash_ids(uid: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A stable 64-bit hash of each user_id's UTF-8 bytes (the same in every batch and process)."""
    if isinstance(uid, pa.ChunkedArray):
        if uid.num_chunks > 1:
            return np.concatenate([hash_ids(c) for c in uid.chunks])
        uid = uid.chunk(0) if uid.num_chunks else pa.array([], pa.string())
    if len(uid) == 0:
        return np.zeros(0, dtype=np.uint64)
    offsets = np.frombuffer(uid.buffers()[1], dtype=np.int32)[uid.offset : uid.offset + len(uid) + 1]
    data = np.frombuffer(uid.buffers()[2], dtype=np.uint8) if uid.buffers()[2] is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    if len(lengths) and lengths.min() == lengths.max() and lengths[0] <= 63:
        # All ids of one length (the common case): a matrix of bytes, hashed two columns at a time
        # (a table per pair of positions holds the sum of the two bytes' entries: the same hash).
        width = int(lengths[0])
        mat = data[offsets[0] : offsets[0] + width * len(lengths)].reshape(len(lengths), width)
        h = np.zeros(len(lengths), dtype=np.uint64)
        half = width // 2
        if half:
            pairs = np.ascontiguousarray(mat[:, : 2 * half]).view("<u2")  # byte j + 256 * byte j+1
            for p in range(half):
                h += _pair_table(2 * p)[pairs[:, p]]
        if width % 2:
            h += _HASH_TABLE[width - 1, mat[:, width - 1]]
        h += _WORD_MULT[min(width, 63)]  # as below: the same id hashes the same in either path
    else:
        start = offsets[0]
        buf = data[start : offsets[-1]]
        pos = np.arange(len(buf), dtype=np.int64) - np.repeat(offsets[:-1] - start, lengths)
        vals = _HASH_TABLE[pos % 64, buf]
        h = np.add.reduceat(vals, offsets[:-1] - start) if len(buf) else np.zeros(len(lengths), np.uint64)
        h += _WORD_MULT[np.minimum(lengths, 63)]  # the length, so "a" and "a\0"-like prefixes differ
    h ^= h >> np.uint64(29)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(32)
    return h


# ---------------------------------------------------------------------------------------------
# step 1: plan


def _fingerprint(path: Path, program: Program, day: dt.date, shard_size: int) -> dict:
    st = path.stat()
    return {"version": PLAN_VERSION, "source": path.name, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns,
            "config_sha256": program.sha256, "day": day.isoformat(), "shard_size": shard_size}


def load_plan(settings: Settings, day: dt.date) -> dict:
    paths = Paths.of(settings, day)
    try:
        return json.loads(paths.plan.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReliefError(f"no rollout plan for {day} in {paths.work}: run the plan step first") from None


class _TopK:
    """The `k` smallest int64 values seen, in memory bounded by ~3k values whatever the input size."""

    def __init__(self, k: int):
        self.k = k
        self.parts: list[np.ndarray] = []
        self.size = 0
        self.seen = 0

    def add(self, values: np.ndarray) -> None:
        self.seen += len(values)
        self.parts.append(values)
        self.size += len(values)
        if self.size > 2 * self.k:
            self._compact()

    def _compact(self) -> None:
        allv = np.concatenate(self.parts)
        if len(allv) > self.k:
            allv = np.partition(allv, self.k - 1)[: self.k]
        self.parts, self.size = [allv], len(allv)

    def kth(self) -> int | None:
        """The k-th smallest value, or None when fewer than k were seen."""
        if self.seen < self.k:
            return None
        self._compact()
        return int(self.parts[0].max())


def plan_rollout(settings: Settings, program: Program, day: dt.date | str | None = None,
                 shard_size: int | None = None, run_id: str | None = None) -> dict:
    """Scan the directory once, stage it in hash buckets, and fix the pass cutoff. Returns the plan."""
    day = _as_date(day, program)
    shard_size = shard_size or default_shard_size()
    if shard_size <= 0:
        raise ReliefError("the shard size must be > 0")
    paths = Paths.of(settings, day)
    path = find_directory(settings.inbox)
    source = _open_source(path)  # reads the header: a bad file fails here, before anything is touched
    fingerprint = _fingerprint(path, program, day, shard_size)
    if paths.plan.is_file():
        old = json.loads(paths.plan.read_text(encoding="utf-8"))
        if old.get("fingerprint") == fingerprint:
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
    log.info("rollout %s: scanning %s (%d bytes, ~%d users) into %d shards", day, path.name, source.size,
             source.estimated_rows, n_shards)

    writers: dict[int, ipc.RecordBatchStreamWriter] = {}
    rejected_tmp = paths.work / REJECTED
    reasons: Counter = Counter()
    rows = 0
    progress = _Progress(f"rollout {day}: scanned", source.estimated_rows)
    try:
        with open(rejected_tmp, "w", encoding="utf-8", newline="") as rej:
            rej_csv = csv.writer(rej, lineterminator="\r\n")
            rej_csv.writerow(REJECTED_HEADER)
            for batch in source.batches(program, n_shards):
                rows += batch.rows
                if batch.bad:
                    batch.bad.sort(key=lambda b: b[0])
                    rej_csv.writerows((path.name, ln, r, raw) for ln, r, raw in batch.bad)
                    reasons.update(r for _, r, _ in batch.bad)
                good, counts = batch.good, batch.counts
                if good.num_rows:
                    pos = 0
                    for k in np.flatnonzero(counts):
                        part = good.slice(pos, int(counts[k]))
                        pos += int(counts[k])
                        if k not in writers:
                            sink = pa.OSFile(str(paths.bucket(int(k))), "wb")
                            writers[k] = (ipc.new_stream(sink, STAGE_SCHEMA), sink)
                        writers[k][0].write_table(part)
                progress.update(rows)
    finally:
        for writer, sink in writers.values():
            writer.close()
            sink.close()
    progress.update(rows, force=True)
    source_sha = source.digest.hexdigest() if source.digest is not None else sha256_file(path)

    # Pass 2, per bucket: last row wins for a repeated user_id; eligible opt-ins feed the cutoff.
    cap = program.talk_drawer_cap
    top = _TopK(cap)
    shard_stats = []
    with ThreadPoolExecutor(max(1, min(2, os.cpu_count() or 1))) as pool:  # numpy and pyarrow release the GIL
        for stats, cand in pool.map(lambda k: _dedupe_bucket(paths, k), range(n_shards)):
            top.add(cand)
            shard_stats.append(stats)
    cutoff = _cutoff(paths, n_shards, top, cap)

    valid = sum(s["rows_staged"] for s in shard_stats)
    users = sum(s["users"] for s in shard_stats)
    quarantined = sum(reasons.values())
    counts = {
        "rows_received": rows,
        "quarantined": quarantined,
        "quarantined_by_reason": dict(sorted(reasons.items())),
        "duplicate_rows": valid - users,
        "users": users,
        "ineligible_withdrawn": sum(s["withdrawn"] for s in shard_stats),
        "ineligible_joined_after": sum(s["joined_after"] for s in shard_stats),
        "eligible": sum(s["eligible"] for s in shard_stats),
        "eligible_optins": top.seen,
    }
    if rows != users + counts["duplicate_rows"] + quarantined:
        raise AssertionError(f"row accounting does not add up: {counts}")
    plan = {
        "fingerprint": fingerprint,
        "run_id": run_id or f"rollout-{day.isoformat()}-{uuid.uuid4().hex[:12]}",
        "day": day.isoformat(),
        "source": {"file": path.name, "bytes": source.size, "sha256": source_sha},
        "shards": list(range(n_shards)),
        "shard_stats": shard_stats,
        "cutoff": cutoff,
        "counts": counts,
        "seconds": round(time.monotonic() - t0, 2),
    }
    write_json(paths.work, "plan.json", plan)
    log.info("rollout %s: planned %d users (%d eligible, %d quarantined rows, %d duplicate rows) in %d shards, "
             "%.1fs", day, users, counts["eligible"], quarantined, counts["duplicate_rows"], n_shards, plan["seconds"])
    return plan


def _dedupe_bucket(paths: Paths, k: int) -> tuple[dict, np.ndarray]:
    """Pass 2 for one bucket: keep each user's last row; return its counts and eligible opt-in times."""
    table = _read_stage(paths.bucket(k))
    n = table.num_rows
    deduped = _last_row_wins(table)
    if deduped is table:
        if paths.bucket(k).exists():
            os.replace(paths.bucket(k), paths.shard_stage(k))
    else:
        table = deduped
        _write_stage(paths.shard_stage(k), table)
        paths.bucket(k).unlink(missing_ok=True)
    inel = _column_numpy(table, "inel", np.int8)
    optin = _column_numpy(table, "optin_us", np.int64)
    eligible = inel == ELIGIBLE
    cand = optin[eligible & (optin != NO_OPTIN)]
    n_eligible = int(np.count_nonzero(eligible))
    n_withdrawn = int(np.count_nonzero(inel == WITHDRAWN))
    stats = {"shard": k, "rows_staged": n, "users": table.num_rows,
             "eligible": n_eligible, "withdrawn": n_withdrawn,
             "joined_after": table.num_rows - n_eligible - n_withdrawn, "eligible_optins": len(cand)}
    return stats, cand


def _column_numpy(table: pa.Table, name: str, dtype) -> np.ndarray:
    return _np(table[name], dtype)


def _last_row_wins(table: pa.Table) -> pa.Table:
    """Keep one row per user_id, the last in the directory; the same table when there are no repeats.

    Rows of a bucket are in directory order, so the last row of a user is its last in the bucket.
    """
    n = table.num_rows
    if n < 2:
        return table
    uid = table["user_id"]
    # A directory sorted by user_id (the usual dump) has no repeats: one comparison per row shows it.
    if uid.null_count == 0 and pc.all(pc.less(uid.slice(0, n - 1), uid.slice(1))).as_py():
        return table
    # Otherwise the top 32 bits of a 64-bit hash (half the sorting of 64): rows sharing them are
    # only suspects (a few hundred per million by chance); their ids are then compared exactly.
    top = (hash_ids(uid) >> np.uint64(32)).astype(np.uint32)
    h = np.sort(top)
    repeated = h[1:][h[1:] == h[:-1]]
    if not len(repeated):  # all hashes distinct, so all ids distinct
        return table
    repeated = np.unique(repeated)
    at = np.searchsorted(repeated, top).clip(max=len(repeated) - 1)
    suspect_idx = np.flatnonzero(repeated[at] == top)
    sub = pa.table({"user_id": uid.take(pa.array(suspect_idx)), "pos": pa.array(suspect_idx)})
    last = sub.group_by("user_id", use_threads=False).aggregate([("pos", "max")])
    winners = last["pos_max"].to_numpy()
    drop = np.zeros(n, dtype=bool)
    drop[suspect_idx] = True
    drop[winners] = False
    return table if not drop.any() else table.filter(pa.array(~drop))


def _read_stage(path: Path) -> pa.Table:
    if not path.exists():
        return STAGE_SCHEMA.empty_table()
    with pa.memory_map(str(path)) as src:
        return ipc.open_stream(src).read_all()


def _write_stage(path: Path, table: pa.Table) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with pa.OSFile(str(tmp), "wb") as sink, ipc.new_stream(sink, STAGE_SCHEMA) as writer:
        writer.write_table(table, max_chunksize=1 << 20)
    os.chmod(tmp, FILE_MODE)
    os.replace(tmp, path)


def _cutoff(paths: Paths, n_shards: int, top: _TopK, cap: int) -> dict | None:
    """The last pass holder: (optin_us, user_id) of the cap-th eligible opt-in; None if all fit."""
    t_us = top.kth()
    if t_us is None:
        return None
    less = 0
    ties: list[pa.Array] = []
    for k in range(n_shards):
        table = _read_stage(paths.shard_stage(k))
        if not table.num_rows:
            continue
        optin = _np(table["optin_us"], np.int64)
        elig = _np(table["inel"], np.int8) == ELIGIBLE
        less += int(np.count_nonzero((optin < t_us) & elig))
        at = np.flatnonzero((optin == t_us) & elig)
        if len(at):
            ties.append(table["user_id"].take(_arrow(at, pa.int64())).combine_chunks())
    slots = cap - less  # >= 1, since t_us is the cap-th smallest
    tied = pa.concat_arrays(ties) if ties else _strings([])
    last_id = pc.take(tied, pc.sort_indices(tied)).slice(slots - 1, 1)[0].as_py()
    at = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=t_us)
    return {"optin_us": t_us, "optin_at": at.isoformat(), "user_id": last_id, "passes_before": less,
            "tied_at_cutoff": len(tied), "tied_given_pass": slots}


# ---------------------------------------------------------------------------------------------
# step 2: one shard


def _marker_ok(paths: Paths, k: int, checked: dict | None = None) -> dict | None:
    """The shard's done-marker if the shard is there and intact (size and SHA-256), else None.

    `checked`: the marker this process has just written or verified for the shard (run_rollout);
    if the marker on disk is still that one, the file's size is checked but it is not hashed again.
    """
    try:
        marker = json.loads(paths.marker(k).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    final = paths.grants / marker["file"]
    if not (final.is_file() and final.stat().st_size == marker["bytes"]):
        return None
    if checked is not None and checked == marker:
        return marker
    return marker if sha256_file(final) == marker["sha256"] else None


def build_shard(settings: Settings, program: Program, day: dt.date | str | None, shard: int) -> dict:
    """Write grants/DAY/part-NNNNN.csv for one shard (skipped if already built and intact)."""
    day = _as_date(day, program)
    paths = Paths.of(settings, day)
    plan = load_plan(settings, day)
    k = int(shard)
    if k not in plan["shards"]:
        raise ReliefError(f"shard {k} is not in the plan (0..{len(plan['shards']) - 1})")
    done = _marker_ok(paths, k)
    if done is not None:
        log.info("shard %d/%d already built (%d users): kept", k + 1, len(plan["shards"]), done["rows"])
        return done
    t0 = time.monotonic()
    stage = paths.shard_stage(k)
    if not stage.exists() and plan["shard_stats"][k]["users"]:
        raise ReliefError(f"the staging of shard {k} is gone ({stage}): re-run the plan step")
    table = _read_stage(stage)
    eligible = _np(table["inel"], np.int8) == ELIGIBLE
    if not eligible.all():
        table = table.filter(_arrow(eligible, pa.bool_()))
    td = _gets_pass(table, plan["cutoff"])
    bundle = pc.take(_strings([BASE, TD]), _arrow(td.astype(np.int8), pa.int8()))
    out = pa.Table.from_arrays([table["user_id"], pa.chunked_array([bundle])], names=["user_id", "bundle_code"])
    sink = io.BytesIO()
    sink.write(b"user_id,bundle_code\r\n")
    if out.num_rows:
        pacsv.write_csv(out, sink, pacsv.WriteOptions(include_header=False, quoting_style="none", eol="\r\n"))
    data = sink.getvalue()
    name = shard_name(k)
    write_atomic(paths.grants / name, data)
    n_td = int(np.count_nonzero(td))
    marker = {"shard": k, "file": name, "rows": out.num_rows, "sha256": hashlib.sha256(data).hexdigest(),
              "bytes": len(data), BASE: out.num_rows - n_td, TD: n_td}
    write_json(paths.work, paths.marker(k).name, marker)
    secs = time.monotonic() - t0
    log.info("shard %d/%d: %d users (%d with the pass) in %.2fs, %.0f users/s", k + 1, len(plan["shards"]),
             out.num_rows, n_td, secs, out.num_rows / max(secs, 1e-9))
    return marker


def _gets_pass(table: pa.Table, cutoff: dict | None) -> np.ndarray:
    """The eligible users who get the pass: opted in, and (optin, user_id) <= the cutoff's."""
    optin = _np(table["optin_us"], np.int64)
    opted = optin != NO_OPTIN
    if cutoff is None:
        return opted
    t_us = cutoff["optin_us"]
    give = optin < t_us
    at = np.flatnonzero(optin == t_us)
    if len(at):  # tied with the cutoff's time: user_id (text, byte order) decides
        ids = table["user_id"].take(_arrow(at, pa.int64()))
        le = _np(pc.less_equal(ids, _strings([cutoff["user_id"]])[0]), bool)
        give[at[le]] = True
    return give & opted


# ---------------------------------------------------------------------------------------------
# step 3: finish


def _item_doc(program: Program, code: str) -> dict:
    item = program.item(code)
    return {
        "code": item.code, "kind": item.kind, "name": item.name, "face_value_krw": item.unit_value_krw,
        "valid_from": item.valid_from.isoformat(),
        "valid_to": item.valid_to.isoformat() if item.valid_to else None,
        "validity": "permanent" if item.valid_to is None else f"{item.valid_from}..{item.valid_to}",
    }


def item_counts(program: Program, bundle_counts: dict[str, int]) -> dict[str, int]:
    counts = {i.code: 0 for i in program.items}
    for code, n in bundle_counts.items():
        for item in program.bundle(code).items:
            counts[item] += n
    return counts


def finish_rollout(settings: Settings, program: Program, day: dt.date | str | None = None,
                   run_id: str | None = None, checked: dict[int, dict] | None = None) -> dict:
    """Check every shard, write the manifest last, then the budget report; remove the staging.

    `checked` (run_rollout): markers of shards this process has just built or verified by their
    SHA-256; those are not hashed a second time. The DAG's finish task checks every shard in full.
    """
    from etl.rollout.budget import write_budget

    day = _as_date(day, program)
    paths = Paths.of(settings, day)
    plan = load_plan(settings, day)
    files: list[WrittenFile] = []
    shards = []
    bundle_counts = {BASE: 0, TD: 0}
    missing = []
    checked = checked or {}
    for k in plan["shards"]:
        marker = _marker_ok(paths, k, checked.get(k))
        if marker is None:
            missing.append(k)
            continue
        files.append(WrittenFile(marker["file"], marker["rows"], marker["sha256"], marker["bytes"]))
        shards.append({"file": marker["file"], "rows": marker["rows"], "sha256": marker["sha256"],
                       BASE: marker[BASE], TD: marker[TD]})
        bundle_counts[BASE] += marker[BASE]
        bundle_counts[TD] += marker[TD]
    if missing:
        raise ReliefError(f"shards {missing[:10]} are missing or damaged: rebuild them (build_shard) and finish again")
    counts = dict(plan["counts"])
    if sum(bundle_counts.values()) != counts["eligible"]:
        raise ReliefError(f"the shards hold {sum(bundle_counts.values())} users, the plan {counts['eligible']} eligible")
    counts.update(bundle_counts)
    rejected = paths.work / REJECTED
    if rejected.exists():
        os.chmod(rejected, FILE_MODE)
        os.replace(rejected, paths.grants / REJECTED)
    final_rejected = paths.grants / REJECTED
    files.append(WrittenFile(REJECTED, counts["quarantined"], sha256_file(final_rejected),
                             final_rejected.stat().st_size))
    items = item_counts(program, bundle_counts)
    run_id = run_id or plan["run_id"]
    header = {
        "kind": "grants",
        "program": program.code,
        "config_sha256": program.sha256,
        "run_id": run_id,
        "rollout_date": day.isoformat(),
        "source": plan["source"],
        "rules": {
            "eligible_joined_on_or_before": program.eligible_joined_on_or_before.isoformat(),
            "excluded_status": ["withdrawn"],
            "talk_drawer_cap": program.talk_drawer_cap,
            "pass_order": "talk_drawer_optin_at, then user_id (text, byte order)",
            "pass_competition": "eligible users only",
            "duplicates": "a user_id listed more than once: its last valid row in the directory wins",
        },
        "pass_cutoff": plan["cutoff"],
        "bundles": {
            b.code: {"users": bundle_counts.get(b.code, 0), "items": [_item_doc(program, c) for c in b.items]}
            for b in program.bundles
        },
        "items": {code: {"count": n, **_item_doc(program, code)} for code, n in items.items()},
        "counts": counts,
        "shards": shards,
        "quarantine": {"file": REJECTED, "rows": counts["quarantined"], "by_reason": counts["quarantined_by_reason"]},
    }
    manifest = finish_folder(paths.grants, files, header)
    budget = write_budget(settings, program, day, items, run_id)
    shutil.rmtree(paths.work, ignore_errors=True)
    log.info("rollout %s published: %d users, %d %s, %d %s, %d shards", day, counts["eligible"],
             bundle_counts[BASE], BASE, bundle_counts[TD], TD, len(shards))
    return {"day": day.isoformat(), "run_id": run_id, "folder": str(paths.grants), "shards": len(shards),
            "counts": counts, "items": items, "budget": budget, "files": len(manifest["files"])}


# ---------------------------------------------------------------------------------------------
# all three in one process (`relief rollout DATE`)


def run_rollout(settings: Settings, program: Program, day: dt.date | str | None = None,
                shard_size: int | None = None, run_id: str | None = None) -> dict:
    """Plan, build every shard (skipping those already built), finish. Returns the finish summary."""
    t0 = time.monotonic()
    plan = plan_rollout(settings, program, day, shard_size=shard_size, run_id=run_id)
    total = plan["counts"]["eligible"]
    done = 0
    progress = _Progress(f"rollout {plan['day']}: granted", total, every=0)
    # Two shards at a time: pyarrow releases the GIL while it filters, formats and hashes.
    built: dict[int, dict] = {}
    with ThreadPoolExecutor(max(1, min(2, os.cpu_count() or 1))) as pool:
        futures = [pool.submit(build_shard, settings, program, plan["day"], k) for k in plan["shards"]]
        for k, future in zip(plan["shards"], futures):
            built[k] = future.result()
            done += built[k]["rows"]
            progress.update(done)
    result = finish_rollout(settings, program, plan["day"], run_id=run_id or plan["run_id"], checked=built)
    result["seconds"] = round(time.monotonic() - t0, 2)
    return result
