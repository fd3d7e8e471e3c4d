"""The RFC 4180 reader in blocks: well-formed records found with NumPy, split by Arrow's CSV reader.

`read_records` (csvfile.py) reads a file one record at a time in Python. For a large intake file, this reads
it a window of bytes at a time (up to `WINDOW_BYTES`) and sorts the window's records with vector operations
over its bytes:

* A record ends at a line feed with an even number of quotes before it in the window (for well-formed input,
  exactly where RFC 4180 ends it).
* A record is *simple* when every quote in it is where RFC 4180 allows one (a quote that opens a field follows
  a comma, a line start or an escaping quote; one that closes it precedes a comma, a line end or an escaping
  quote), it holds no bare CR outside quotes and no control byte but tab, CR and LF, it has the header's
  number of fields, and it is valid UTF-8. Simple records go to Arrow's CSV reader (`Window.table`), which
  splits them exactly as the line reader does (quotes, `""`, line breaks kept as they are).
* Every other record is read by the line reader (`csvfile._next_record`, with its recovery rule), from where
  it starts: the window's `others`. A record that is not simple and spans several lines ends the window (an
  unterminated quote may have taken the rows after it): the line reader reads it, and the next window starts
  where it stopped.

So `read_windows` gives, in windows, exactly the records `read_records` gives: tests/etl/claims/test_blocks.py
holds it to that, over hostile files and windows of every size.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from etl.io.csvfile import _END, Record, _Lines, _next_record, opened_after_header

WINDOW_BYTES = 4 << 20  # the most bytes a window reads (under MAX_RECORD_BYTES: a window never holds a record_too_long)
_FIRST_WINDOW = 64 << 10  # after a record the line reader had to read, reads start small again and double
_MAX_OTHERS = 4096  # a window of records that are not simple is given before it holds more
_UTF8_FAILURES = 16  # invalid UTF-8 records a window looks for before it ends early (each costs a decode)
_LF, _CR, _QUOTE, _COMMA, _TAB = 10, 13, 34, 44, 9


@dataclass
class Window:
    """The records of a run of the file, in two parts that interleave by line number."""

    data: bytes  # the simple records, back to back (what `table` splits)
    line_nos: list[int]  # each simple record's first line
    offsets: list[int]  # each simple record's byte offset in the file (`record_at` reads it again)
    others: list[Record] = field(default_factory=list)  # the other records of the run, read by the line reader
    _src: _Lines | None = None
    _width: int = 0

    def table(self, columns: list[str]) -> Any:
        """The simple records as an Arrow table of strings, one column per header name."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        table = pacsv.read_csv(
            pa.py_buffer(self.data),
            read_options=pacsv.ReadOptions(column_names=columns, block_size=1 << 20),
            parse_options=pacsv.ParseOptions(
                quote_char='"', double_quote=True, escape_char=False, newlines_in_values=True, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(columns, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=False,  # checked for each record before it got here
            ),
        )
        if table.num_rows != len(self.line_nos):
            raise RuntimeError(f"Arrow read {table.num_rows} records where {len(self.line_nos)} were found")
        return table

    def record_at(self, i: int) -> Record:
        """Simple record `i` as the line reader gives it (raw text and fields), for a caller that needs it."""
        assert self._src is not None
        src = self._src
        mark = src.mark()
        try:
            src.reset((self.offsets[i], self.line_nos[i]))
            rec = _next_record(src, self._width)
        finally:
            src.reset(mark)
        assert isinstance(rec, Record)
        return rec


def read_windows(path: Path, expected_header: list[str], max_window: int = WINDOW_BYTES) -> Iterator[Window]:
    """The file's data records (what `read_records` gives), in windows of about `max_window` bytes of simple
    records; MalformedFileError for a file-level problem."""
    if not 0 < max_window <= WINDOW_BYTES:
        raise ValueError(f"max_window must be in 1..{WINDOW_BYTES}")
    with opened_after_header(path, expected_header) as (fh, src):
        width = len(expected_header)
        size = min(_FIRST_WINDOW, max_window)  # how much to read next: grows while no record stops a read short
        window = Window(b"", [], [], [], src, width)
        parts: list[bytes] = []
        held = 0  # bytes of simple records in the window
        while True:
            src.reset(src.mark())  # the file at the reader's position (a read or a record_at moved it)
            chunk = fh.read(size)
            found = _scan_chunk(chunk, src.offset, src.line_no, width) if chunk else None
            if found is None:  # no whole record that is simple or on one line here: one record, line by line
                src.reset(src.mark())
                rec = _next_record(src, width)
                if rec is _END:
                    break
                if rec is not None:
                    window.others.append(rec)  # type: ignore[arg-type]
                size = min(_FIRST_WINDOW, max_window)
            else:
                data, line_nos, offsets, singles, (end_offset, end_line), cut_short = found
                for offset, line_no in singles:  # records that are not simple, each on one line: the line reader
                    src.reset((offset, line_no))
                    rec = _next_record(src, width)
                    if rec is not None and rec is not _END:
                        window.others.append(rec)  # type: ignore[arg-type]
                src.reset((end_offset, end_line))
                parts.append(data)
                held += len(data)
                window.line_nos += line_nos
                window.offsets += offsets
                size = min(_FIRST_WINDOW, max_window) if cut_short else min(size * 2, max_window)
            if held >= max_window or len(window.others) >= _MAX_OTHERS:
                window.data = b"".join(parts)
                yield window
                window, parts, held = Window(b"", [], [], [], src, width), [], 0
        if window.line_nos or window.others:
            window.data = b"".join(parts)
            yield window


def _scan_chunk(
    chunk: bytes, base_offset: int, base_line: int, width: int
) -> tuple[bytes, list[int], list[int], list[tuple[int, int]], tuple[int, int], bool] | None:
    """The records of a chunk read at (`base_offset`, `base_line`), up to its last whole record or its first
    record that is neither simple nor on one line: (the simple records' bytes, their lines, their offsets, the
    (offset, line) of each other record, the (offset, line) after the last, whether a record stopped it short).
    None when it starts with no such record."""
    import numpy as np

    b = np.frombuffer(chunk, dtype=np.uint8)
    quotes = np.flatnonzero(b == _QUOTE)
    lfs = np.flatnonzero(b == _LF)
    ends = lfs[np.searchsorted(quotes, lfs) % 2 == 0]  # record ends: a line feed outside quotes
    if not len(ends):
        return None
    n = len(ends)
    starts = np.concatenate(([0], ends[:-1] + 1))
    stop = int(ends[-1]) + 1
    b, quotes, lfs = b[:stop], quotes[quotes < stop], lfs[lfs < stop]

    def record_of(positions: Any) -> Any:
        return np.searchsorted(ends, positions)

    bad = np.zeros(n, dtype=bool)
    if len(quotes):
        opening, closing = quotes[0::2], quotes[1::2]  # an even / odd number of quotes before it in the record
        before = b[np.maximum(opening - 1, 0)]
        ok = (opening == 0) | (before == _COMMA) | (before == _LF) | (before == _QUOTE)
        bad[record_of(opening[~ok])] = True
        after = b[closing + 1]  # a closing quote is never the last byte: the chunk ends with a line feed
        after2 = b[np.minimum(closing + 2, stop - 1)]
        ok = (after == _COMMA) | (after == _LF) | (after == _QUOTE) | ((after == _CR) & (after2 == _LF))
        bad[record_of(closing[~ok])] = True
    crs = np.flatnonzero(b == _CR)
    bare = crs[b[crs + 1] != _LF]  # the chunk ends with a line feed: a CR is never its last byte
    bad[record_of(bare[np.searchsorted(quotes, bare) % 2 == 0])] = True  # outside quotes it is data, not a line end
    control = np.flatnonzero((b < 0x20) & (b != _TAB) & (b != _LF) & (b != _CR))
    bad[record_of(control)] = True
    commas = np.flatnonzero(b == _COMMA)
    commas = commas[np.searchsorted(quotes, commas) % 2 == 0]
    bad |= np.bincount(record_of(commas), minlength=n) != width - 1
    multiline = np.bincount(record_of(lfs), minlength=n) > 1
    first3 = b[np.minimum(starts[:, None] + np.arange(3), stop - 1)]
    bad |= (first3 == np.array([0xEF, 0xBB, 0xBF])).all(axis=1)  # Arrow drops a BOM at a buffer's start: not data

    # UTF-8: decode; each failure marks its record and decoding resumes after it (a bounded number of times).
    pos, failures = 0, 0
    while pos < stop:
        try:
            codecs.utf_8_decode(chunk[pos:stop], "strict", True)
            break
        except UnicodeDecodeError as err:
            rec = int(record_of(pos + err.start))
            bad[rec] = True
            pos = int(ends[rec]) + 1
            failures += 1
            if failures >= _UTF8_FAILURES:  # the window ends after this record
                n = rec + 1
                break

    barrier = np.flatnonzero(bad[:n] & multiline[:n])
    cut_short = bool(len(barrier)) or n < len(ends)
    if len(barrier):
        n = int(barrier[0])
    if n == 0:
        return None
    line_of_start = base_line + np.searchsorted(lfs, starts[:n])
    simple = ~bad[:n]
    if simple.all():
        data = chunk[: int(ends[n - 1]) + 1]
    else:
        lengths = ends[:n] - starts[:n] + 1
        data = b[: int(ends[n - 1]) + 1][np.repeat(simple, lengths)].tobytes()
    end = (base_offset + int(ends[n - 1]) + 1, base_line + int(np.searchsorted(lfs, ends[n - 1], side="right")))
    singles = list(zip((base_offset + starts[:n][~simple]).tolist(), line_of_start[~simple].tolist()))
    return data, line_of_start[simple].tolist(), (base_offset + starts[:n][simple]).tolist(), singles, end, cut_short
