"""The forgiving RFC 4180 reader under hostile input: well-formed files are read whole, broken ones cost one record."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from etl.claims.parse import CLAIM_COLUMNS
from etl.io import csvfile
from etl.io.csvfile import MalformedFileError, read_records

HEADER = ["a", "b", "c"]
CLAIMS_HEADER = ",".join(CLAIM_COLUMNS).encode()
# A claim row whose last field (description) is left for the test to fill in.
ROW_PREFIX = (
    b"R1,2022-10-16T10:00:00+09:00,web,small_business,\xed\x96\x89\xeb\xb3\xb5\xeb\xb6\x84\xec\x8b\x9d,,"
    b"010-1234-5678,211-86-07719,kakaotalk,false,true,100000,088,110-432-118290,Kim,"
)


def records(tmp_path: Path, data: bytes, header: list[str] = HEADER) -> list[csvfile.Record]:
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    return list(read_records(path, header))


# ---------- rows that used to crash ----------


def test_a_quoted_field_longer_than_the_csv_module_limit_is_read(tmp_path):
    big = "x" * 131_073 + ",\n" + "y" * 200_000  # over csv.field_size_limit(), with a comma and a newline
    recs = records(tmp_path, b'a,b,c\n1,"' + big.encode() + b'",3\n2,3,4\n')
    assert [r.error for r in recs] == [None, None]
    assert recs[0].fields == ["1", big, "3"]
    assert recs[1].fields == ["2", "3", "4"]


def test_a_bare_cr_in_an_unquoted_field_of_a_row_with_quotes_is_data_not_a_crash(tmp_path):
    recs = records(tmp_path, b'a,b,c\n1,"quoted",x\ry\n2,3,4\n')
    assert recs[0].error is None and recs[0].fields == ["1", "quoted", "x\ry"]  # parse quarantines the CR
    assert recs[1].fields == ["2", "3", "4"]


# ---------- a valid file never loses a claim ----------


def test_a_description_whose_second_line_holds_15_commas_is_one_record(tmp_path):
    description = "first line\n" + "," * 15
    data = CLAIMS_HEADER + b"\r\n" + ROW_PREFIX + b'"' + description.encode() + b'"\r\n' + ROW_PREFIX + b"plain\r\n"
    recs = records(tmp_path, data, CLAIM_COLUMNS)
    assert [r.error for r in recs] == [None, None]
    assert recs[0].fields[-1] == description
    assert [r.line_no for r in recs] == [2, 4]


@pytest.mark.parametrize("line_end", [b"\r\n", b"\n", b"\r"])
def test_every_line_end_inside_a_quoted_field_is_kept(tmp_path, line_end):
    recs = records(tmp_path, b'a,b,c\r\n1,"one' + line_end + b'two",3\r\n2,3,4\r\n')
    assert [r.fields for r in recs] == [["1", "one" + line_end.decode() + "two", "3"], ["2", "3", "4"]]


def test_a_record_spanning_many_lines_is_one_record(tmp_path):
    text = "\n".join(f"line {i}, with a comma" for i in range(500))
    recs = records(tmp_path, b'a,b,c\n1,2,"' + text.encode() + b'"\n3,4,5\n')
    assert [r.fields for r in recs] == [["1", "2", text], ["3", "4", "5"]]


def test_quoted_header_and_a_last_record_without_a_line_end(tmp_path):
    recs = records(tmp_path, b'"a","b","c"\n1,"2",3')
    assert [r.fields for r in recs] == [["1", "2", "3"]]


# ---------- recovery only for malformed input ----------


def test_an_unterminated_quote_costs_its_record_only(tmp_path):
    data = b'a,b,c\n1,2,"never closed\nstill the broken one\n2,"ok, quoted",4\n3,4,"multi\nline"\n'
    recs = records(tmp_path, data)
    assert [(r.line_no, r.error) for r in recs] == [(2, "bad_quoting"), (4, None), (5, None)]
    assert recs[0].raw == '1,2,"never closed\nstill the broken one'
    assert recs[2].fields == ["3", "4", "multi\nline"]


def test_a_runaway_quote_past_the_record_limit_recovers(tmp_path, monkeypatch):
    monkeypatch.setattr(csvfile, "MAX_RECORD_BYTES", 1000)
    rows = b"".join(b"%d,x,y\n" % i for i in range(1000))  # no quote after the broken one: it runs to the end
    recs = records(tmp_path, b'a,b,c\n1,2,"never closed\n' + rows)
    assert recs[0].error == "bad_quoting" and recs[0].line_no == 2
    assert [r.fields for r in recs[1:]] == [[str(i), "x", "y"] for i in range(1000)]


def test_a_well_formed_record_over_the_limit_is_quarantined_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(csvfile, "MAX_RECORD_BYTES", 1000)
    recs = records(tmp_path, b'a,b,c\n1,"' + b"z\n" * 2000 + b'",3\n2,3,4\n')
    assert [(r.line_no, r.error) for r in recs] == [(2, "record_too_long"), (2003, None)]
    assert len(recs[0].raw) < 1200 and recs[0].fields is None


def test_nul_and_undecodable_bytes_never_reach_raw_as_such(tmp_path):
    recs = records(tmp_path, b'a,b,c\n1,x\x00y,3\n1,"\xff\x00",3\n')
    assert recs[0].error is None and recs[0].fields == ["1", "x\x00y", "3"]  # parse quarantines the NUL
    assert "\x00" not in recs[0].raw and "\\x00" in recs[0].raw
    assert recs[1].error == "invalid_utf8" and "\x00" not in recs[1].raw


# ---------- file-level errors name file, line and columns, never a value ----------


def test_a_header_less_file_error_names_columns_not_the_row(tmp_path):
    row = ROW_PREFIX + b"secret-note\r\n"
    path = tmp_path / "claims_20221016.csv"
    path.write_bytes(row + row)
    with pytest.raises(MalformedFileError) as err:
        list(read_records(path, CLAIM_COLUMNS))
    message = str(err.value)
    assert message.startswith(f"{path}: wrong header")
    assert "line 1" in message and "receipt_no" in message and "header row" in message
    for secret in ("010-1234-5678", "211-86-07719", "110-432-118290", "R1", "Kim", "행복분식", "secret-note"):
        assert secret not in message, secret


def test_a_misplaced_and_an_extra_column_are_named_by_position(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"b,a,c,010-9999-0000\n1,2,3,4\n")
    with pytest.raises(MalformedFileError) as err:
        list(read_records(path, HEADER))
    message = str(err.value)
    assert "wrong header" in message and "line 1" in message
    assert "'b' is column 1, expected column 2" in message and "'a' is column 2, expected column 1" in message
    assert "column 4" in message and "010-9999-0000" not in message


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"\n\n  \r\n", "empty"),
        (b"\xff\xfea\x00,\x00b\x00\n\x00", "not UTF-8"),
        (b'"a,b,c\n1,2,3\n', "quoting"),
        (b"a,b,c\r1,2,3\r", "bare CR"),
    ],
)
def test_file_level_problems_say_what_without_data(tmp_path, data, problem):
    with pytest.raises(MalformedFileError, match=problem) as err:
        records(tmp_path, data)
    assert "1,2,3" not in str(err.value)


def test_a_symlinked_file_is_refused_not_followed(tmp_path):
    target = tmp_path / "elsewhere.csv"
    target.write_bytes(b"a,b,c\n1,2,3\n")
    link = tmp_path / "f.csv"
    link.symlink_to(target)
    with pytest.raises(MalformedFileError, match="symbolic link"):
        list(read_records(link, HEADER))


# ---------- streaming ----------


def test_records_are_streamed_not_read_whole(tmp_path):
    path = tmp_path / "big.csv"
    with open(path, "wb") as fh:
        fh.write(b"a,b,c\n")
        row = b'%d,"some text, quoted",' + b"p" * 80 + b"\n"
        for i in range(100_000):
            fh.write(row % i)
    size = os.path.getsize(path)
    tracemalloc.start()
    try:
        n = sum(1 for rec in read_records(path, HEADER) if rec.error is None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == 100_000
    assert peak < size / 4, f"peak {peak} bytes for a {size}-byte file"
