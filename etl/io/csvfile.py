"""A forgiving RFC 4180 reader: one bad record is reported and skipped, never the whole file.

Python's csv module either accepts broken quoting silently or stops at it, and an unterminated
quote swallows every later row. This reader splits physical lines into records itself, so each
record keeps its source line, invalid UTF-8 and broken quoting are reasons on that record alone,
and a record that runs away with an open quote is closed at the next line that looks like a record.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# One field: quoted ("" escapes a quote, newlines allowed) or unquoted (no quote, no comma).
_FIELD = r'(?:"(?:[^"]|"")*"|[^",]*)'
_RECORD = re.compile(rf"{_FIELD}(?:,{_FIELD})*", re.DOTALL)
MAX_RECORD_LINES = 200


class MalformedFileError(Exception):
    """The file as a whole cannot be read as the contract says: the day stops, nothing is published."""

    def __init__(self, path: Path | str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclass
class Record:
    line_no: int  # the physical line the record starts on (the header is line 1)
    raw: str  # the record's text as received; undecodable bytes shown as \xNN
    fields: list[str] | None  # None when the record could not be split into fields
    error: str | None  # a reason code when the record is malformed


def _decode(line: bytes) -> tuple[str, bool]:
    line = line.rstrip(b"\r")
    try:
        return line.decode("utf-8"), True
    except UnicodeDecodeError:
        return line.decode("utf-8", errors="backslashreplace"), False


def _already_text(line: str) -> tuple[str, bool]:
    return line.rstrip("\r"), True


def _split_fields(text: str) -> list[str] | None:
    if '"' not in text:
        return text.split(",")
    if not _RECORD.fullmatch(text):
        return None  # quoting Python's csv module would accept but RFC 4180 does not
    return next(csv.reader([text], strict=True))


def read_records(path: Path, expected_header: list[str]) -> Iterator[Record]:
    """Yield the data records of a CSV file; raise MalformedFileError for a file-level problem."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise MalformedFileError(path, "is a directory, not a file") from None
    except OSError as exc:
        raise MalformedFileError(path, f"cannot be read ({exc.strerror})") from None
    if not data.strip():
        raise MalformedFileError(path, "is empty: even a day without claims has a header row")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        # Fast path: a file that is valid UTF-8 throughout is decoded once, not line by line.
        text_lines = data.decode("utf-8").split("\n")
        decode = _already_text
    except UnicodeDecodeError:
        text_lines = data.split(b"\n")
        decode = _decode
    lines = text_lines
    if lines and not lines[-1]:
        lines.pop()

    header_text, ok = decode(lines[0].rstrip("\r" if decode is _already_text else b"\r"))
    header = _split_fields(header_text) if ok else None
    if header is None or [h.strip() for h in header] != expected_header:
        raise MalformedFileError(
            path, f"wrong header: expected {','.join(expected_header)!r}, got {header_text[:200]!r}"
        )
    width = len(expected_header)

    i = 1
    n = len(lines)
    while i < n:
        start = i
        text, ok = decode(lines[i])
        i += 1
        parts = [text]
        all_ok = ok
        quotes = text.count('"')
        # An odd number of quotes so far means a quoted field is still open: take the next line,
        # unless that line is a record of its own (then this record's quoting is broken).
        while quotes % 2 == 1 and i < n and i - start < MAX_RECORD_LINES:
            nxt, ok = decode(lines[i])
            if _looks_like_record(nxt, width):
                break
            parts.append(nxt)
            all_ok = all_ok and ok
            quotes += nxt.count('"')
            i += 1
        raw = "\n".join(parts)
        if not raw.strip() and len(parts) == 1:
            continue  # a blank line is not a record
        if not all_ok:
            yield Record(start + 1, raw, None, "invalid_utf8")
        elif quotes % 2 == 1:
            yield Record(start + 1, raw, None, "bad_quoting")
        else:
            fields = _split_fields(raw)
            if fields is None:
                yield Record(start + 1, raw, None, "bad_quoting")
            elif len(fields) != width:
                yield Record(start + 1, raw, fields, "wrong_field_count")
            else:
                yield Record(start + 1, raw, fields, None)


def _looks_like_record(line: str, width: int) -> bool:
    """A line that starts a record: at least the separators of a full record (quoted or not).

    A continuation line of a quoted free-text field rarely holds that many commas; when one does,
    the record it belongs to is quarantined as broken quoting rather than rows being swallowed.
    """
    return bool(line) and not line[0].isspace() and line.count(",") >= width - 1
