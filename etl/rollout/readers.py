"""Finding the user directory in the inbox and reading it in validated batches, in file order.

users.csv is read in blocks of whole lines (at most BLOCK_BYTES, into reused buffers) that two worker
threads parse with pyarrow, check (`checks.validate`), hash and split by bucket, since pyarrow and
numpy release the GIL; the file's SHA-256 is computed on a third thread as the blocks are read.
users.parquet is read in row batches. Either way the plan sees `Batch`es in directory order, with
each rejected row's line number, and streams them to staging: memory stays flat at any size.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from etl.core.config import Program
from etl.core.errors import InboxFileError
from etl.rollout.checks import COLUMNS, BadRow, validate
from etl.rollout.common import worker_count
from etl.rollout.dedupe import BlockSummary, summarize_block
from etl.rollout.hashing import split_by_bucket

BLOCK_BYTES = 16 << 20  # 32 MB blocks kept ~150 MB more in flight at the same speed
MIN_BLOCK_BYTES = 4 << 20


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
        raise InboxFileError(
            f"no users.csv or users.parquet in {inbox}: the user directory has not been delivered; nothing published"
        )
    if len(found) > 1:
        raise InboxFileError(
            f"both users.csv and users.parquet are in {inbox}: remove the one that is not current; nothing published"
        )
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
    bad: list[BadRow]  # (line_no, reason, raw)
    rows: int  # records seen (good + bad)
    summary: BlockSummary  # counts, opt-ins and id order of `good`, for the plan's settling


def count_lines(block: memoryview | bytes, step: int = 1 << 22) -> int:
    """The number of newlines in a block, counted by numpy in slices (which, unlike bytes.count,
    releases the GIL, so the parsing threads count in parallel)."""
    arr = np.frombuffer(block, dtype=np.uint8)
    return sum(int(np.count_nonzero(arr[i : i + step] == 10)) for i in range(0, len(arr), step))


def _renumber(batch: Batch, first_line: int) -> Batch:
    if batch.bad:
        batch.bad = [(first_line + ln, reason, raw) for ln, reason, raw in batch.bad]
    return batch


class CsvSource:
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
        sample = head[self.header_bytes :]
        lines = sample.count(b"\n")
        avg = len(sample) / lines if lines else 32.0
        self.estimated_rows = max(1, int((self.size - self.header_bytes) / avg))

    def batches(self, program: Program, n_buckets: int = 1) -> Iterator[Batch]:
        """Batches in file order; blocks are worked on by a pool of threads (pyarrow and numpy
        release the GIL), a few blocks ahead of the one handed out."""
        workers = worker_count()
        ahead = workers + 1  # blocks in flight
        line_no = 2
        inflight: deque[Future[tuple[Batch, int]]] = deque()
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

    def blocks(self, n_buffers: int = 2) -> Iterator[tuple[int, memoryview]]:
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

    def _parse(self, block: memoryview | bytes, invalid: list[str], use_threads: bool = True) -> pa.Table:
        def handler(row: pacsv.InvalidRow) -> str:
            invalid.append(row.text)
            return "skip"

        return pacsv.read_csv(
            pa.py_buffer(block),
            read_options=pacsv.ReadOptions(column_names=self.names, block_size=8 << 20, use_threads=use_threads),
            parse_options=pacsv.ParseOptions(
                quote_char=False, escape_char=False, newlines_in_values=False, invalid_row_handler=handler
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in COLUMNS},
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=True,
            ),
        )

    def _work(self, program: Program, block: memoryview, n_buckets: int) -> tuple[Batch, int]:
        """One block, on a worker thread: parse, check, hash, split by bucket.

        Line numbers in the result count from 0 (the block's first line); the caller, which sees
        the blocks in order, adds the block's first line number. Returns (batch, lines in block).
        """
        buf = cast("bytes | bytearray", block.obj)  # the buffer the view is of (a memoryview has no find)
        n = len(block)
        n_lines = count_lines(block)
        quoted = buf.find(b'"', 0, n) >= 0
        invalid: list[str] = []
        try:
            table = self._parse(block, invalid, use_threads=False)
        except pa.ArrowInvalid:
            table = None
        line_nos: np.ndarray | None
        bad: list[BadRow]
        if table is not None and not invalid and table.num_rows == n_lines:
            line_nos, bad = None, []  # row i of the block is its line i
        else:
            table, line_nos, bad = self._slow_block(bytes(block), 0)
        good, h, more_bad = validate(table, line_nos, program, quoted=quoted, first_line=0)
        good, counts = split_by_bucket(good, h, n_buckets)
        summary = summarize_block(good, counts)
        return Batch(good, counts, bad + more_bad, table.num_rows + len(bad), summary), n_lines

    def _slow_block(self, block: bytes, first_line: int) -> tuple[pa.Table, np.ndarray, list[BadRow]]:
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
        bad: list[BadRow] = []
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
            invalid: list[str] = []
            table = self._parse(b"\n".join(good_lines) + b"\n", invalid)
            if invalid or table.num_rows != len(good_lines):  # should not happen: every line has 4 fields
                raise InboxFileError(f"{self.path}: a block near line {first_line} could not be parsed")
        else:
            table = pa.table({c: pa.array([], pa.string()) for c in self.names})
        return table, np.array(good_nos, dtype=np.int64), bad


class ParquetSource:
    """Reads users.parquet in row batches; typed columns (date, timestamp) or text columns."""

    def __init__(self, path: Path, batch_rows: int = 1_000_000):
        import pyarrow.parquet as pq  # lazy: only a Parquet directory needs it (~30 ms of imports)

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
        self.digest = None  # not hashed on the way: the plan hashes the file itself

    def batches(self, program: Program, n_buckets: int = 1) -> Iterator[Batch]:
        row = 1
        for rb in self.file.iter_batches(batch_size=self.batch_rows, columns=COLUMNS):
            table = pa.Table.from_batches([rb])
            good, h, bad = validate(table, None, program, quoted=False, first_line=row)
            row += table.num_rows
            good, counts = split_by_bucket(good, h, n_buckets)
            yield Batch(good, counts, bad, table.num_rows, summarize_block(good, counts))


def open_source(path: Path) -> CsvSource | ParquetSource:
    return ParquetSource(path) if path.suffix == ".parquet" else CsvSource(path)
