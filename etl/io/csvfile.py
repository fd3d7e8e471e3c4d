"""A forgiving RFC 4180 reader: one bad record is reported and skipped, never the whole file.

Python's csv module either accepts broken quoting silently or stops at it, has a field-size limit,
and an unterminated quote swallows every later row. This reader parses the bytes itself, streaming
(one record in memory at a time), so each record keeps its source line, and invalid UTF-8 and broken
quoting are reasons on that record alone.

What is well-formed is read as RFC 4180 says, whatever it holds: fields of any length, commas, `""`
and line breaks (CRLF, LF or a bare CR) inside quoted fields, CRLF or LF between records, a last
record without a line end, a UTF-8 BOM. A bare CR outside quotes is data, not a line end (the row's
parser quarantines it as a control character). A well-formed record is never split, merged or
quarantined by the reader, except one over `MAX_RECORD_BYTES` (16 MiB), which is `record_too_long`
(its raw text is kept up to that size).

Recovery rule (only for malformed input): a record is first read strictly, from the line it starts
on. When strict reading fails (a quote inside an unquoted field, text after a closing quote, end of file
inside a quoted field), or gives a record that spans several lines but does not have the header's number
of fields (an unterminated quote may have taken the rows after it), the record is cut back to its first
line, then extended line by line only while its quotes are unbalanced, stopping before the first line
at which a well-formed record of the header's width begins (looked for within `MAX_RECORD_LINES` lines
and 64 KiB of it: more than any row the parsers accept), and after at most `MAX_RECORD_LINES` lines.
It is reported once, as `invalid_utf8` when its bytes are not UTF-8, else `bad_quoting` (or
`wrong_field_count` when the rule takes the strict record whole), and reading resumes after it: only
the malformed record is lost. A one-line record with the wrong number of fields is `wrong_field_count`.
A blank line is not a record. (A stray quote whose text happens to close as a well-formed record of the
header's width is that record: RFC 4180 cannot tell it from one written on purpose.)

Every message about a file names the file, the line and the columns, never a field's content: a
header-less file's first line is a claim, with a phone number and an account in it.
"""

from __future__ import annotations

import contextlib
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from etl.core.errors import InboxFileError
from etl.io.inbox import UnsafeInboxFile, open_regular

MAX_RECORD_BYTES = 16 << 20  # a record larger than this is not held in memory: `record_too_long`
MAX_RECORD_LINES = 200  # how far recovery looks for the next record, and the most lines a broken record takes
_LOOKAHEAD_BYTES = 64 << 10  # how much a candidate record start may take before recovery gives up on it
_PIECE = 1 << 20  # a physical line is read in pieces of at most this many bytes
_BOM = b"\xef\xbb\xbf"
# One well-formed RFC 4180 record, for the fast path (the csv module then splits it, at C speed).
_FIELD_RE = r'(?:"(?:[^"]|"")*"|[^",\r\n]*)'
_RECORD_RE = re.compile(rf"{_FIELD_RE}(?:,{_FIELD_RE})*")
_FAST_LINE = 100_000  # under csv.field_size_limit() (131,072 characters), so the csv module never refuses

_QUOTE, _COMMA = 0x22, 0x2C
_MORE, _DONE, _BROKEN = 0, 1, 2  # what the scanner says after each piece
_FIELD, _UNQUOTED, _QUOTED, _CLOSING = 0, 1, 2, 3  # scanner states (_CLOSING: a quote seen inside quotes)


class MalformedFileError(InboxFileError):
    """The file as a whole cannot be read as the contract says: the day stops, nothing is published."""

    def __init__(self, path: Path | str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclass(slots=True)
class Record:
    line_no: int  # the physical line the record starts on (the header is line 1)
    raw: str  # the record's text as received; undecodable bytes and NUL shown as \xNN
    fields: list[str] | None  # None when the record could not be split into fields
    error: str | None  # a reason code when the record is malformed


def _raw_text(data: bytes) -> str:
    """Text for quarantine: undecodable bytes as \\xNN, and NUL as \\x00 (PostgreSQL text cannot hold it)."""
    return data.decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00")


class _Lines:
    """The physical lines of a binary file, in pieces of at most `_PIECE` bytes, with line numbers."""

    def __init__(self, fh: BinaryIO):
        self.fh = fh
        self.offset = 0
        self.line_no = 1  # the number of the line the next piece belongs to

    def mark(self) -> tuple[int, int]:
        return self.offset, self.line_no

    def reset(self, mark: tuple[int, int]) -> None:
        self.fh.seek(mark[0])
        self.offset, self.line_no = mark

    def piece(self) -> tuple[bytes, bool] | None:
        """(bytes without the line feed, whether the line ends here), or None at the end of the file."""
        return self.take(self.fh.readline(_PIECE))

    def take(self, data: bytes) -> tuple[bytes, bool] | None:
        """piece() for bytes just read with `fh.readline(_PIECE)` (read_records reads the common line itself)."""
        if not data:
            return None
        if data.endswith(b"\r") and len(data) == _PIECE:  # keep a CR with its LF in one piece
            more = self.fh.read(1)
            data += more
        self.offset += len(data)
        if data.endswith(b"\n"):
            self.line_no += 1
            return data[:-1], True
        if len(data) < _PIECE:  # the last line, without a line end
            self.line_no += 1
            return data, True
        return data, False


class _Scan:
    """RFC 4180, strictly, over the pieces of one record's lines; keeps up to `keep` bytes of it."""

    def __init__(self, keep: int):
        self.keep = keep
        self.size = 0
        self.overflow = False
        self.state = _FIELD
        self.fields: list[bytes] = []
        self.count = 0  # fields completed (counted even when their bytes are no longer kept)
        self.cur: list[bytes] = []
        self.raw: list[bytes] = []
        self.lines = 0

    def _end_field(self) -> None:
        if not self.overflow:
            self.fields.append(b"".join(self.cur))
        self.cur = []
        self.count += 1

    def feed(self, data: bytes, line_end: bool) -> int:
        self.size += len(data) + line_end
        if not self.overflow:
            if self.size > self.keep:
                self.overflow = True
                self.fields, self.cur = [], []
                kept = sum(len(r) for r in self.raw)
                self.raw.append(data[: max(self.keep - kept, 0)])
            else:
                self.raw.append(data + b"\n" if line_end else data)
        keep = not self.overflow
        cr = line_end and data.endswith(b"\r")
        body = data[:-1] if cr else data
        pos, n, state, cur = 0, len(body), self.state, self.cur
        while pos < n:
            if state == _FIELD:
                if body[pos] == _QUOTE:
                    state, pos = _QUOTED, pos + 1
                    continue
                state = _UNQUOTED
            if state == _UNQUOTED:
                comma, quote = body.find(b",", pos), body.find(b'"', pos)
                if quote >= 0 and (comma < 0 or quote < comma):
                    return _BROKEN  # a quote inside an unquoted field
                if comma < 0:
                    if keep:
                        cur.append(body[pos:])
                    pos = n
                else:
                    if keep:
                        cur.append(body[pos:comma])
                    self._end_field()
                    cur = self.cur
                    state, pos = _FIELD, comma + 1
            elif state == _QUOTED:
                quote = body.find(b'"', pos)
                if quote < 0:
                    if keep:
                        cur.append(body[pos:])
                    pos = n
                else:
                    if keep:
                        cur.append(body[pos:quote])
                    state, pos = _CLOSING, quote + 1
            else:  # _CLOSING: a quote inside a quoted field is an escaped quote or the field's end
                c = body[pos]
                if c == _QUOTE:
                    if keep:
                        cur.append(b'"')
                    state, pos = _QUOTED, pos + 1
                elif c == _COMMA:
                    self._end_field()
                    cur = self.cur
                    state, pos = _FIELD, pos + 1
                else:
                    return _BROKEN  # text after a closing quote
        self.state = state
        if not line_end:
            return _MORE
        if state == _QUOTED:  # the line break belongs to the field
            if keep:
                cur.append(b"\r\n" if cr else b"\n")
            self.lines += 1
            return _MORE
        self._end_field()
        self.lines += 1
        return _DONE

    def eof(self) -> int:
        if self.state == _QUOTED:
            return _BROKEN  # end of file inside a quoted field
        self._end_field()
        return _DONE

    def raw_bytes(self) -> bytes:
        data = b"".join(self.raw)
        if data.endswith(b"\n"):
            data = data[:-1]
        if data.endswith(b"\r"):
            data = data[:-1]
        return data


def _scan(
    src: _Lines, first: tuple[bytes, bool], keep: int, max_lines: int | None = None, max_bytes: int | None = None
) -> tuple[int, _Scan]:
    """Read one record strictly from its first piece on; (status, scanner). Limits make it give up (broken)."""
    scan = _Scan(keep)
    piece: tuple[bytes, bool] | None = first
    while True:
        if piece is None:
            return scan.eof(), scan
        status = scan.feed(*piece)
        if status != _MORE:
            return status, scan
        if (max_lines is not None and scan.lines >= max_lines) or (max_bytes is not None and scan.size > max_bytes):
            return _BROKEN, scan
        piece = src.piece()


def _decode_fields(fields: list[bytes]) -> list[str] | None:
    try:
        return [f.decode("utf-8") for f in fields]
    except UnicodeDecodeError:
        return None


def _begins_record(src: _Lines, width: int) -> bool:
    """Whether a well-formed record of `width` fields starts at the current line (the position is kept)."""
    mark = src.mark()
    try:
        first = src.piece()
        if first is None:
            return False
        data, line_end = first
        if line_end and b'"' not in data:
            return bool(data.strip()) and data.count(b",") == width - 1
        status, scan = _scan(src, first, keep=0, max_lines=MAX_RECORD_LINES, max_bytes=_LOOKAHEAD_BYTES)
        return status == _DONE and scan.count == width
    finally:
        src.reset(mark)


def _skip_line(src: _Lines, first: tuple[bytes, bool] | None, keep: list[bytes], budget: int) -> int:
    """Consume the rest of a physical line; return its number of quotes; keep its bytes within the budget."""
    quotes = 0
    piece = first
    while piece is not None:
        data, line_end = piece
        quotes += data.count(b'"')
        kept = sum(len(k) for k in keep)
        if kept < budget:
            keep.append(data[: budget - kept] + (b"\n" if line_end else b""))
        if line_end:
            break
        piece = src.piece()
    return quotes


def _recover(src: _Lines, start: tuple[int, int], width: int) -> Record:
    """The malformed record starting at `start`, cut back by the recovery rule; reading resumes after it."""
    src.reset(start)
    line_no = start[1]
    kept: list[bytes] = []
    quotes = _skip_line(src, src.piece(), kept, MAX_RECORD_BYTES)
    lines = 1
    while quotes % 2 == 1 and lines < MAX_RECORD_LINES:
        if _begins_record(src, width):
            break
        piece = src.piece()
        if piece is None:
            break
        quotes += _skip_line(src, piece, kept, MAX_RECORD_BYTES)
        lines += 1
    data = b"".join(kept)
    if data.endswith(b"\n"):
        data = data[:-1]
    if data.endswith(b"\r"):
        data = data[:-1]
    try:
        data.decode("utf-8")
        reason = "bad_quoting"
    except UnicodeDecodeError:
        reason = "invalid_utf8"
    raw = _raw_text(data)
    if len(data) >= MAX_RECORD_BYTES:
        raw += f" [record truncated at {MAX_RECORD_BYTES} bytes]"
    return Record(line_no, raw, None, reason)


def _header_problem(header: list[str], expected: list[str], bare_cr: bool) -> str:
    """What is wrong with a header row, by column name and position, never showing an unexpected cell."""
    found = [h.strip() for h in header]
    must = f"the header must be {','.join(expected)}"
    hint = "; the line holds a bare CR: line ends must be LF or CRLF" if bare_cr else ""
    if not set(found) & set(expected):
        return (
            f"wrong header (line 1): none of its {len(found)} cell(s) is a column name (a file without its"
            f" header row? the cells are not shown: they may be data){hint}; {must}"
        )
    missing = [name for name in expected if name not in found]
    parts = []
    if missing:
        parts.append(f"missing column(s) {', '.join(missing)}")
    misplaced, unexpected, seen = [], [], set()
    for i, name in enumerate(found, start=1):
        if name in expected and name not in seen:
            seen.add(name)
            want = expected.index(name) + 1
            if want != i:
                misplaced.append(f"{name!r} is column {i}, expected column {want}")
        elif name in expected:
            unexpected.append(f"column {i} (a second {name!r})")
        else:
            unexpected.append(f"column {i}")
    if misplaced:
        parts.append("misplaced: " + "; ".join(misplaced))
    if unexpected:
        parts.append(f"unexpected: {', '.join(unexpected)} (their text is not shown: it may be data)")
    return f"wrong header (line 1): {len(found)} column(s), expected {len(expected)}: {'; '.join(parts)}{hint}; {must}"


def _read_header(src: _Lines, path: Path, expected: list[str]) -> None:
    first = src.piece()
    while first is not None and first[1] and not first[0].strip():
        # A blank first line: the file is empty if nothing but blank lines follows.
        rest = src.piece()
        if rest is None:
            break
        if rest[0].strip():
            raise MalformedFileError(
                path, f"wrong header (line 1): the first line is blank; the header must be {','.join(expected)}"
            )
        first = rest
    if first is None or not first[0].strip():
        raise MalformedFileError(path, "is empty: even a day without claims has a header row")
    data, line_end = first
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    status, scan = _scan(src, (data, line_end), keep=1 << 20, max_lines=1)
    if scan.overflow:
        raise MalformedFileError(
            path, f"wrong header (line 1): over 1 MiB long; the header must be {','.join(expected)}"
        )
    if status != _DONE:
        raise MalformedFileError(
            path, f"wrong header (line 1): its quoting is broken; the header must be {','.join(expected)}"
        )
    names = _decode_fields(scan.fields)
    if names is None:
        raise MalformedFileError(
            path,
            "wrong header (line 1): not UTF-8 text (another encoding such as CP949 or UTF-16?); the file must be UTF-8",
        )
    if [h.strip() for h in names] != expected:
        raw = scan.raw_bytes()
        raise MalformedFileError(path, _header_problem(names, expected, b"\r" in raw))


def _quoted_record(src: _Lines, line_no: int, first: bytes, width: int) -> Record | None:
    """The fast path for a record with quotes: its lines up to balanced quotes, checked whole by a regular
    expression and split by the csv module. None (having read ahead) when the general path must decide."""
    parts, size, quotes = [first], len(first), first.count(b'"')
    while quotes % 2:  # a well-formed record ends at the first line end where its quotes balance
        if len(parts) >= MAX_RECORD_LINES or size > _FAST_LINE:
            return None
        piece = src.piece()
        if piece is None or not piece[1]:
            return None
        parts.append(piece[0])
        size += len(piece[0]) + 1
        quotes += piece[0].count(b'"')
    body = b"\n".join(parts)
    if body.endswith(b"\r"):
        body = body[:-1]
    if len(body) > _FAST_LINE:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not _RECORD_RE.fullmatch(text):
        return None
    try:
        fields = next(csv.reader([text], strict=True))
    except csv.Error:  # only if csv.field_size_limit() was lowered elsewhere in the process
        return None
    if len(fields) != width and len(parts) > 1:
        return None  # the general path applies the recovery rule to it
    return Record(
        line_no,
        _raw_text(body) if "\x00" in text else text,
        fields,
        None if len(fields) == width else "wrong_field_count",
    )


def _plain(line_no: int, data: bytes, width: int) -> Record:
    """A whole line without quotes: split at commas (a CR before the line feed is the line end)."""
    if data.endswith(b"\r"):
        data = data[:-1]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Record(line_no, _raw_text(data), None, "invalid_utf8")
    fields = text.split(",")
    raw = text.replace("\x00", "\\x00") if "\x00" in text else text
    return Record(line_no, raw, fields, None if len(fields) == width else "wrong_field_count")


@contextlib.contextmanager
def opened_after_header(path: Path, expected_header: list[str]) -> Iterator[tuple[BinaryIO, _Lines]]:
    """The file open (regular files only) with its header read and checked; MalformedFileError if it is not."""
    try:
        fh = open_regular(path)
    except UnsafeInboxFile as exc:
        raise MalformedFileError(exc.path, exc.problem) from None
    with fh:
        src = _Lines(fh)
        _read_header(src, path, expected_header)
        yield fh, src


def read_records(path: Path, expected_header: list[str]) -> Iterator[Record]:
    """Yield the data records of a CSV file one at a time; raise MalformedFileError for a file-level problem."""
    with opened_after_header(path, expected_header) as (fh, src):
        width = len(expected_header)
        readline = fh.readline
        while True:
            start = src.offset, src.line_no
            data = readline(_PIECE)
            if data.endswith(b"\n") and b'"' not in data:  # the common case: a whole line, no quoting
                src.offset += len(data)
                src.line_no += 1
                line = data[:-1]
                if line.strip():
                    yield _plain(start[1], line, width)
                continue
            rec = _next_record(src, width, start, src.take(data))
            if rec is _END:
                return
            if rec is not None:
                yield rec  # type: ignore[misc]


_END = object()  # _next_record at the end of the file


def _next_record(
    src: _Lines, width: int, start: tuple[int, int] | None = None, first: tuple[bytes, bool] | None = None
) -> Record | object | None:
    """The record starting at the reader's position, in any form, with the recovery rule (the reader is then
    after it); None for a blank line; `_END` at the end of the file. `start` and `first`: its first piece,
    already read from there."""
    if start is None:
        start = src.mark()
        first = src.piece()
    if first is None:
        return _END
    data, line_end = first
    if line_end and b'"' not in data:  # a whole line without quoting (the last line may have no line end)
        return _plain(start[1], data, width) if data.strip() else None
    if line_end:
        rec = _quoted_record(src, start[1], data, width)
        if rec is not None:
            return rec
        src.reset(start)
        first = src.piece()
        assert first is not None
    status, scan = _scan(src, first, keep=MAX_RECORD_BYTES)
    if status == _BROKEN:
        return _recover(src, start, width)
    if scan.count != width and scan.lines > 1 and not scan.overflow:
        # Well-quoted, but of the wrong width over several lines: an unterminated quote may have
        # taken later rows; the recovery rule decides where this record ends.
        end = src.mark()
        rec = _recover(src, start, width)
        fields = _decode_fields(scan.fields)
        if src.mark() == end and fields is not None:  # it takes the record whole: just the wrong width
            rec = Record(start[1], rec.raw, fields, "wrong_field_count")
        return rec
    if scan.overflow:
        raw = _raw_text(scan.raw_bytes()) + f" [record truncated: {scan.size} bytes in all]"
        return Record(start[1], raw, None, "record_too_long")
    raw_bytes = scan.raw_bytes()
    fields = _decode_fields(scan.fields)
    if fields is None:
        return Record(start[1], _raw_text(raw_bytes), None, "invalid_utf8")
    error = None if len(fields) == width else "wrong_field_count"
    return Record(start[1], _raw_text(raw_bytes), fields, error)
