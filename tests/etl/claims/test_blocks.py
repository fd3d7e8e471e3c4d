"""The vectorised intake gives exactly what the row-by-row intake gives, whatever the file.

`iter_claim_values(vectorised=False)` reads every record with the line reader and checks it with the row parser:
the reference. The fast path (io/csvblocks.py windows, claims/blocks.py canonical values) must give the same
records, values, reasons, details and raw text, in the same order, for any bytes and any window size.
"""

from __future__ import annotations

import datetime as dt
import sys
from unittest import mock

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.claims import blocks, parse
from etl.claims.identifiers import normalise_phone
from etl.claims.parse import _CONTROL, CLAIM_COLUMNS, iter_claim_values, load_services
from etl.io.csvblocks import read_windows
from etl.io.csvfile import read_records
from tests.builders import claim, make_brn
from tests.etl.claims.test_intake_fuzz import claims_file

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
DAY, OUTAGE = dt.date(2022, 10, 16), dt.date(2022, 10, 15)
SPACES = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]

# Values at the edges of what the fast path takes whole: each is taken, or left to the row parser, which decides.
NEAR = {
    "receipt_no": ["R1", "\ufeffR1", " R1", "R1 ", "R1\u3000", "\xa0R1", "", " ", "R\t1", "R" * 64, "R" * 65],
    "received_at": [
        "2022-10-16T09:12:44+09:00", "2022-10-16T09:12:44+00:00", "2022-10-16T00:12:44-05:00",
        "2022-10-16T09:12:44Z", "2022-10-16T09:12:44.5+09:00", "2022-10-16T24:12:44+09:00",
        "2022-10-16T09:60:44+09:00", "2022-10-14T23:59:59+09:00", "2022-10-15T00:00:00+09:00",
        "2022-10-16T23:59:59+09:00", "2022-10-17T00:00:00+09:00", "2022-02-30T09:00:00+09:00",
        " 2022-10-16T09:12:44+09:00", "2022-10-16T09:12:44+09:30", "2022-10-16T09:12:44+99:00",
    ],
    "channel": ["web", "Web", " web", "kakaotalk", "fax", ""],
    "claimant_type": ["individual", "small_business", "enterprise", "Individual", "business", ""],
    "claimant_name": ["행복분식", "", " 행복", "행복\u3000", "Kim\u2028", "가" * 100, "가" * 101, "a\x85b"],
    "kakao_account_id": ["", "kim_1", " kim_1", "kim_1\xa0", "\u3000"],
    "phone": [
        "", "010-1234-5678", "01012345678", "010 1234 5678", "+82 10 1234 5678", "+82-10-1234-5678",
        "821012345678", "8201012345678", "+82 010 1234 5678", "(010) 1234.5678", "010-123-5678", "011-1234-5678",
        "012-1234-5678", "1234", "   ", "０１０-1234-5678", "010\u20031234\u20035678", "+8210", "82",
    ],
    "business_reg_no": [make_brn(1), make_brn(2).replace("-", ""), "123-45-67891", "1234567890", "", " ", "12-345"],
    "service": ["kakaotalk", "KakaoTalk", " kakaotalk", "melon", "nope", ""],
    "paid_service": ["true", "false", "TRUE", " true", "yes", ""],
    "monetary_loss": ["true", "false", "False", ""],
    "claimed_loss_krw": ["100000", "", "0", "0001", "+5", "-5", "1e3", "1000000000000", "1000000000001",
                         "9999999999999", "00000000000000001", " 5", "３"],
    "bank_code": ["088", "", "88", "0888", " 088", "０８８"],
    "account_no": ["110-432-118290", "", "12345", "123456", "1" * 20, "1" * 21, "-123456", "123456-", "12 3456"],
    "account_holder": ["김행복", "", " 김", "김 ", "\u3000"],
    "description": ["\ufeffBOM", "주문 알림 누락", "", "line\nbreak", "tab\there", "cr\rhere", "bad\x00", "c1\x9f",
                    "nc\ufffe", "x" * 4000, "x" * 4001, ' "quoted" ', "a,b"],
}  # fmt: skip


@st.composite
def near_canonical_file(draw) -> bytes:
    """Claim rows each with a few fields set to values at the fast path's edges, as a CSV file."""
    lines = [",".join(CLAIM_COLUMNS)]
    for i in range(draw(st.integers(0, 30))):
        row = claim(receipt_no=f"R{i}", business_reg_no=make_brn(i))
        row["received_at"] = "2022-10-16T10:00:00+09:00"
        for column in draw(st.lists(st.sampled_from(CLAIM_COLUMNS), max_size=3, unique=True)):
            row[column] = draw(st.sampled_from(NEAR[column]))
        cells = []
        for name in CLAIM_COLUMNS:
            value = row[name]
            quote = draw(st.integers(0, 9)) == 0 or any(c in value for c in ',"\r\n')
            cells.append('"' + value.replace('"', '""') + '"' if quote else value)
        lines.append(",".join(cells))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    return (eol.join(lines) + (eol if draw(st.booleans()) else "")).encode("utf-8")


@pytest.fixture(scope="module")
def services(program):
    return load_services(program.services_path)


def _assert_as_the_row_parser(path, services, ranged: bool, window: int, slice_rows: int) -> None:
    """The vectorised intake gives what the row-by-row intake gives, or raises what it raises."""
    kw = {"day": DAY, "outage_date": OUTAGE} if ranged else {}
    try:
        reference = list(iter_claim_values(path, services, vectorised=False, **kw))
    except Exception as exc:  # a file-level problem: the fast path raises the same
        with pytest.raises(type(exc), match="."):
            list(iter_claim_values(path, services, vectorised=True, window_bytes=window, **kw))
        return
    with mock.patch.object(parse, "_SLICE_ROWS", slice_rows):
        assert list(iter_claim_values(path, services, vectorised=True, window_bytes=window, **kw)) == reference


@FUZZ
@given(data=near_canonical_file(), ranged=st.booleans(), window=st.integers(64, 8192), slice_rows=st.integers(1, 40))
def test_near_canonical_rows_give_what_the_row_parser_gives(tmp_path, services, data, ranged, window, slice_rows):
    path = tmp_path / "claims_20221016.csv"
    path.write_bytes(data)
    _assert_as_the_row_parser(path, services, ranged, window, slice_rows)


@FUZZ
@given(data=claims_file(), ranged=st.booleans(), window=st.integers(1, 4096), slice_rows=st.integers(1, 8))
def test_hostile_files_give_what_the_row_parser_gives(tmp_path, services, data, ranged, window, slice_rows):
    path = tmp_path / "claims_20221016.csv"
    path.write_bytes(data)
    _assert_as_the_row_parser(path, services, ranged, window, slice_rows)


@FUZZ
@given(data=claims_file(), window=st.integers(1, 4096))
def test_windows_hold_the_line_readers_records(tmp_path, data, window):
    """Every record, in order; Arrow splits each simple record as the line reader does."""
    path = tmp_path / "claims_20221016.csv"
    path.write_bytes(data)
    try:
        expected = list(read_records(path, CLAIM_COLUMNS))
    except Exception:
        return
    got = []
    for win in read_windows(path, CLAIM_COLUMNS, window):
        simple = [win.record_at(i) for i in range(len(win.line_nos))]
        assert [r.line_no for r in simple] == win.line_nos
        assert all(r.error is None for r in simple)
        if simple:
            table = win.table(CLAIM_COLUMNS)
            assert [list(row.values()) for row in table.to_pylist()] == [r.fields for r in simple]
        got += sorted(simple + win.others, key=lambda r: r.line_no)
    assert got == expected


def test_the_fast_path_takes_canonical_rows(tmp_path, services, monkeypatch):
    """A file of ordinary claims goes through the vectors, not row by row (else the fast path is dead code)."""
    rows = [claim(receipt_no=f"R{i}", business_reg_no=make_brn(i), received_at="2022-10-16T10:00:00+09:00")
            for i in range(200)]  # fmt: skip
    rows[7]["phone"] = "+82 10 1234 5678"
    rows[8]["description"] = "두 줄\n설명, 쉼표"
    rows[9]["claimant_type"], rows[9]["kakao_account_id"] = "individual", "kim_9"
    text = "\n".join([",".join(CLAIM_COLUMNS)] + [",".join(f'"{r[c]}"' for c in CLAIM_COLUMNS) for r in rows])
    path = tmp_path / "claims_20221016.csv"
    path.write_text(text + "\n", encoding="utf-8")
    reread = []
    original = blocks.canonical_values

    def counting(table, *args):
        out = original(table, *args)
        reread.extend(v for v in out.values(0, len(out)) if v is None)
        return out

    monkeypatch.setattr("etl.claims.parse.canonical_values", counting)
    fast = list(iter_claim_values(path, services, day=DAY, outage_date=OUTAGE, vectorised=True))
    assert len(fast) == 200 and all(values is not None for _, values, _ in fast)
    assert reread == []
    assert fast == list(iter_claim_values(path, services, day=DAY, outage_date=OUTAGE, vectorised=False))


def test_every_space_str_strip_removes_is_left_to_the_row_parser():
    """A field starting or ending with any character str.strip() removes is not taken as canonical."""
    for space in SPACES:
        if _CONTROL.search(space):
            continue  # control characters never reach the fast path
        edged = pa.array([space + "x", "x" + space, "x"])
        assert pc.match_substring_regex(edged, blocks._EDGE_SPACE).to_pylist() == [True, True, False], hex(ord(space))


WRITTEN_PHONES = [
    "010-1234-5678", "01012345678", "0101234567", "010 1234 5678", "+82 10 1234 5678", "+82-10-1234-5678",
    "+82 010 1234 5678", "+820101234567", "821012345678", "82101234567", "8201012345678", "(010)1234.5678",
    "0082 10 1234 5678", "+82", "82", "", " ", "019-123-4567", "012-1234-5678", "+8210123456789",
]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(phone=st.one_of(st.sampled_from(WRITTEN_PHONES), st.text(alphabet="0123456789+ .()-", max_size=20)))
def test_phones_are_normalised_as_the_row_parser_does(phone):
    expected = normalise_phone(phone) if phone.strip() else None
    assert blocks._normalise_phones(pa.array([phone])).to_pylist() == [expected]


def test_control_characters_are_found_in_any_string_of_a_sliced_array():
    strings = pa.array(["x\x01", "ok", "tab\there", "c1\x85", "nc\uffff", "line\nbreak", "가나다"]).slice(1)
    assert blocks._holds_control(strings).tolist() == [False, True, True, True, True, False]
    assert blocks._holds_control(strings, free_text=True).tolist() == [False, False, True, True, False, False]


def test_a_small_file_is_read_row_by_row_until_arrow_is_loaded(tmp_path, services, monkeypatch):
    """Loading Arrow's compute library costs more than the vectors save on a small file; a large file, or any
    file once the library is loaded, takes the vectors."""
    path = tmp_path / "claims_20221016.csv"
    path.write_text(",".join(CLAIM_COLUMNS) + "\n" + ",".join(claim().values()) + "\n", encoding="utf-8")
    windows = []
    monkeypatch.setattr(parse, "read_windows", lambda *a: windows.append(a) or iter(()))
    with mock.patch.dict(sys.modules):
        sys.modules.pop("pyarrow.compute", None)
        assert len(list(iter_claim_values(path, services))) == 1 and windows == []
        monkeypatch.setattr(parse, "VECTORS_FROM_BYTES", path.stat().st_size)
        list(iter_claim_values(path, services))
        assert len(windows) == 1
    monkeypatch.setattr(parse, "VECTORS_FROM_BYTES", 1 << 40)
    list(iter_claim_values(path, services))  # pyarrow.compute is loaded in this process
    assert len(windows) == 2
