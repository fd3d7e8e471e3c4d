from pathlib import Path

import pytest

from etl.io.csvfile import MalformedFileError, read_records

HEADER = ["a", "b", "c"]


def records(tmp_path: Path, data: bytes):
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    return list(read_records(path, HEADER))


def test_quoted_fields_with_commas_quotes_and_newlines(tmp_path):
    recs = records(tmp_path, b'a,b,c\n1,"x, ""y""",z\n2,"line one\nline two",w\n3,p,q\n')
    assert [r.fields for r in recs] == [["1", 'x, "y"', "z"], ["2", "line one\nline two", "w"], ["3", "p", "q"]]
    assert [r.line_no for r in recs] == [2, 3, 5]
    assert all(r.error is None for r in recs)


def test_crlf_and_bom_are_accepted(tmp_path):
    recs = records(tmp_path, b"\xef\xbb\xbfa,b,c\r\n1,2,3\r\n")
    assert recs[0].fields == ["1", "2", "3"]


def test_invalid_utf8_is_one_bad_record(tmp_path):
    recs = records(tmp_path, b"a,b,c\n1,\xc7\xe0\xba\xb9,3\n2,ok,4\n")
    assert recs[0].error == "invalid_utf8" and "\\x" in recs[0].raw
    assert recs[1].fields == ["2", "ok", "4"]


def test_unterminated_quote_does_not_swallow_later_rows(tmp_path):
    recs = records(tmp_path, b'a,b,c\n1,2,"never closed\n2,3,4\n3,4,5\n')
    assert recs[0].error == "bad_quoting"
    assert [r.fields for r in recs[1:]] == [["2", "3", "4"], ["3", "4", "5"]]


def test_text_after_a_closing_quote_and_a_stray_quote_are_bad_quoting(tmp_path):
    recs = records(tmp_path, b'a,b,c\n1,"x"y,z\n2,ab""c,d\n3,4,5\n')
    assert [r.error for r in recs] == ["bad_quoting", "bad_quoting", None]


def test_wrong_field_count(tmp_path):
    recs = records(tmp_path, b"a,b,c\n1,2\n1,2,3,4\n")
    assert [r.error for r in recs] == ["wrong_field_count", "wrong_field_count"]


def test_header_only_file_has_no_records(tmp_path):
    assert records(tmp_path, b"a,b,c\n") == []


@pytest.mark.parametrize(
    "data, problem",
    [(b"", "empty"), (b"x,y,z\n1,2,3\n", "wrong header"), (b"a,b\n", "wrong header")],
)
def test_file_level_problems_stop_the_file(tmp_path, data, problem):
    with pytest.raises(MalformedFileError, match=problem):
        records(tmp_path, data)


def test_unreadable_path(tmp_path):
    with pytest.raises(MalformedFileError, match="directory"):
        list(read_records(tmp_path, HEADER))


def test_a_fully_quoted_file_recovers_after_a_broken_row(tmp_path):
    recs = records(tmp_path, b'a,b,c\n"1","2","never closed\n"2","3","4"\n"3","4","5"\n')
    assert recs[0].error == "bad_quoting"
    assert [r.fields for r in recs[1:]] == [["2", "3", "4"], ["3", "4", "5"]]
