"""The checks on the user directory's rows, as vector operations over a parsed block, and the quarantine reasons.

A block (up to 16 MB of CSV, or a Parquet row batch) is checked whole with pyarrow compute and numpy,
never row by row in Python, except for the rare values only Python's ISO 8601 parser can decide.
`validate` turns a parsed block into staged rows (user_id, ineligibility code, opt-in time in UTC
microseconds), their user_ids' hashes, and the rejected rows with their line and reason.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl.core.config import Program
from etl.rollout.arrow import (
    byte_lengths,
    chunks,
    fixed_width,
    from_numpy,
    string_offsets,
    strings,
    validity,
    values,
)
from etl.rollout.hashing import hash_ids
from etl.rollout.staging import ELIGIBLE, JOINED_AFTER, NO_OPTIN, STAGE_SCHEMA, WITHDRAWN

COLUMNS = ["user_id", "status", "joined_at", "talk_drawer_optin_at"]
STATUSES = ["active", "dormant", "withdrawn"]
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
# The reasons `validate` gives, in check order: a row gets the first that applies. (The CSV reader
# gives wrong_field_count and invalid_utf8 itself, before a line is parsed.)
_CODES = ["empty_user_id", "bad_user_id", "bad_status", "bad_joined_at", "bad_talk_drawer_optin_at"]
_STATUS_SET = strings(STATUSES)
_EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

BadRow = tuple[int, str, str]  # (line_no, reason, raw)


def validate(
    table: pa.Table, line_nos: np.ndarray | None, program: Program, quoted: bool = False, first_line: int = 1
) -> tuple[pa.Table, np.ndarray, list[BadRow]]:
    """Check a parsed block: (good rows in staging form, their user_ids' hashes, [(line_no, reason, raw)]).

    `line_nos` gives each row's line; None means consecutive lines from `first_line`.
    """
    if table.num_rows == 0:
        return STAGE_SCHEMA.empty_table(), np.zeros(0, dtype=np.uint64), []
    uid, status, joined_col, optin_col = _columns(table, quoted)
    reason = np.zeros(table.num_rows, dtype=np.int8)  # 0 good, else index into _CODES + 1
    _mark(reason, _uid_lengths(uid) == 0, "empty_user_id")
    if quoted:
        has_quote = pc.fill_null(pc.match_substring(uid, '"'), False).to_numpy(zero_copy_only=False)
        _mark(reason, has_quote, "bad_user_id")
    st_np = values(pc.index_in(status, value_set=_STATUS_SET), np.int32, fill=-1).astype(np.int8)
    _mark(reason, st_np < 0, "bad_status")
    days, bad_days = _joined_days(joined_col)
    _mark(reason, bad_days, "bad_joined_at")
    optin_us, bad_optin = _optin_us(optin_col, program)
    _mark(reason, bad_optin, "bad_talk_drawer_optin_at")

    bad_idx = np.flatnonzero(reason)
    bad_rows = _bad_rows(table, bad_idx, reason, line_nos, first_line)
    cutoff = (program.eligible_joined_on_or_before - dt.date(1970, 1, 1)).days
    inel = np.where(
        st_np == STATUSES.index("withdrawn"), WITHDRAWN, np.where(days > cutoff, JOINED_AFTER, ELIGIBLE)
    ).astype(np.int8)
    if len(bad_idx):
        good = reason == 0
        uid, inel, optin_us = pc.filter(uid, from_numpy(good, pa.bool_())), inel[good], optin_us[good]
    staged = pa.Table.from_arrays(
        [uid, from_numpy(inel, pa.int8()), from_numpy(optin_us, pa.int64())], schema=STAGE_SCHEMA
    )
    return staged, hash_ids(uid), bad_rows


def _mark(reason: np.ndarray, mask: np.ndarray, code: str) -> None:
    """Give `code` to the rows in `mask` that have no reason yet."""
    mask = np.asarray(mask, dtype=bool)
    reason[(reason == 0) & mask] = _CODES.index(code) + 1


def _columns(table: pa.Table, quoted: bool) -> tuple[pa.ChunkedArray, ...]:
    """user_id (as text, trimmed), status (as text), joined_at, talk_drawer_optin_at.

    `quoted`: the block holds a quote character, so a field wholly in quotes is unquoted first.
    """
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
    return uid, status, joined_col, optin_col


def _uid_lengths(uid: pa.ChunkedArray) -> np.ndarray:
    """Each user_id's length in bytes; 0 for a null."""
    uid_len = byte_lengths(uid)
    if uid.null_count:
        uid_len = np.where(validity(uid), uid_len, 0)
    return uid_len


def _bad_rows(
    table: pa.Table, bad_idx: np.ndarray, reason: np.ndarray, line_nos: np.ndarray | None, first_line: int
) -> list[BadRow]:
    """The rejected rows: their line, their reason, and the row as read (its fields joined by commas)."""
    bad_rows: list[BadRow] = []
    if len(bad_idx):
        raw_cols = [table[c].take(pa.array(bad_idx)).to_pylist() for c in COLUMNS]
        for j, i in enumerate(bad_idx):
            raw = ",".join("" if raw_cols[c][j] is None else _raw_text(raw_cols[c][j]) for c in range(len(COLUMNS)))
            line_no = int(line_nos[i]) if line_nos is not None else first_line + int(i)
            bad_rows.append((line_no, _CODES[reason[i] - 1], raw))
    return bad_rows


def _raw_text(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def _unquote(col: pa.ChunkedArray) -> pa.ChunkedArray:
    wrapped = pc.and_(
        pc.starts_with(col, '"'), pc.and_(pc.ends_with(col, '"'), pc.greater_equal(pc.utf8_length(col), 2))
    )
    inner = pc.replace_substring(pc.utf8_slice_codeunits(col, 1, -1), '""', '"')
    return pc.if_else(wrapped, inner, col)


def _needs_trim(uid: pa.ChunkedArray) -> bool:
    """Whether any user_id may start or end with white space (a cheap, conservative look at the bytes)."""
    fixed = fixed_width(uid)
    if fixed is not None:  # ids of one width: their first and last bytes are columns of the matrix
        mat = fixed[0]
        return bool(_odd_edge(mat[:, 0]).any() or _odd_edge(mat[:, -1]).any())
    for chunk in chunks(uid):
        if not len(chunk):
            continue
        offsets = string_offsets(chunk)
        if chunk.buffers()[2] is None:
            continue
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)
        filled = offsets[1:] > offsets[:-1]
        first = data[offsets[:-1][filled]]
        last = data[offsets[1:][filled] - 1]
        if _odd_edge(first).any() or _odd_edge(last).any():
            return True
    return False


def _odd_edge(edge: np.ndarray) -> np.ndarray:
    """Bytes that may be (part of) white space: ASCII white space and separators are <= 0x20, any
    Unicode space starts with a byte >= 0x80."""
    return (edge <= 0x20) | (edge >= 0x7F)


def _joined_days(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(days since the epoch, mask of bad values: empty or not a YYYY-MM-DD date)."""
    if pa.types.is_date(col.type):
        days = pc.fill_null(col.cast(pa.date32()).cast(pa.int32()), np.iinfo(np.int32).max).to_numpy()
        return days.astype(np.int64), pc.is_null(col).to_numpy(zero_copy_only=False)
    if pa.types.is_timestamp(col.type):
        return _joined_days(col.cast(pa.date32()))
    try:
        dates = pc.cast(col, pa.date32())  # strict ISO dates, fast; fails on the first bad value
        bad = ~validity(dates)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        parsed = pc.strptime(col, format="%Y-%m-%d", unit="s", error_is_null=True)
        # strptime rolls 2015-02-30 over to March: a date is real only if it prints back as given.
        real = pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), col)
        dates = pc.if_else(real, parsed, pa.scalar(None, parsed.type)).cast(pa.date32())
        bad = ~validity(dates)
    days = values(dates, np.int32, fill=0)
    return days.astype(np.int64), bad


def _optin_us(col: pa.ChunkedArray, program: Program) -> tuple[np.ndarray, np.ndarray]:
    """(microseconds since the epoch, UTC; NO_OPTIN when empty), and a mask of unparseable values."""
    n = len(col)
    if pa.types.is_timestamp(col.type):
        return _timestamp_us(col, program), np.zeros(n, dtype=bool)
    if pa.types.is_date(col.type) or not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return np.full(n, NO_OPTIN, dtype=np.int64), pc.is_valid(col).to_numpy(zero_copy_only=False)
    try:  # strict ISO 8601 with a required offset: fast, and fails on the first odd value
        us = values(pc.cast(col, pa.timestamp("us", tz="UTC")), np.int64, fill=NO_OPTIN)
        return us, np.zeros(n, dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    return _text_us(col)


def _timestamp_us(col: pa.ChunkedArray, program: Program) -> np.ndarray:
    """A typed (Parquet) timestamp column in UTC microseconds; a naive one is wall time in the program's zone."""
    ts = col.cast(pa.timestamp("us", tz=col.type.tz)).cast(pa.int64())
    us = ts.to_numpy(zero_copy_only=False) if ts.null_count == 0 else pc.fill_null(ts, NO_OPTIN).to_numpy()
    us = np.asarray(us, dtype=np.int64)
    if col.type.tz is None:
        us = np.where(us == NO_OPTIN, us, us - _utc_offset_us(program))
    return us


def _utc_offset_us(program: Program) -> int:
    noon = dt.datetime.combine(program.rollout_date, dt.time(12), tzinfo=ZoneInfo(program.timezone))
    return int((noon.utcoffset() or dt.timedelta(0)).total_seconds()) * 1_000_000


def _text_us(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Text timestamps the strict cast refused: strptime for whole seconds, then Python for the rest."""
    n = len(col)
    present = validity(col)
    parsed = pc.strptime(col, format="%Y-%m-%dT%H:%M:%S%z", unit="s", error_is_null=True)
    # strptime rolls an impossible day (02-30) over: the date part must print back as given.
    day_part = pc.utf8_slice_codeunits(col, 0, 10)
    day_ok = pc.equal(
        pc.strftime(pc.strptime(day_part, format="%Y-%m-%d", unit="s", error_is_null=True), format="%Y-%m-%d"), day_part
    )
    parsed = pc.if_else(pc.fill_null(day_ok, False), parsed, pa.scalar(None, parsed.type))
    secs = pc.fill_null(parsed.cast(pa.int64()), NO_OPTIN).to_numpy()
    us = np.where(secs == NO_OPTIN, NO_OPTIN, secs * 1_000_000)
    failed = present & (secs == NO_OPTIN)
    bad = np.zeros(n, dtype=bool)
    if failed.any():  # rare: fractional seconds or other ISO 8601 forms; Python decides, row by row
        texts = pc.take(col, pa.array(np.flatnonzero(failed))).to_pylist()
        for i, text in zip(np.flatnonzero(failed), texts):
            stamp_us = _iso_us(text)
            if stamp_us is None:
                bad[i] = True
            else:
                us[i] = stamp_us
    return us, bad


def _iso_us(text: str) -> int | None:
    """An ISO 8601 timestamp with an offset in UTC microseconds; None if it is not one."""
    try:
        stamp = dt.datetime.fromisoformat(text) if len(text) >= 19 and text[10] in "T " else None
    except ValueError:
        stamp = None
    if stamp is None or stamp.tzinfo is None:
        return None
    delta = stamp - _EPOCH_UTC
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
