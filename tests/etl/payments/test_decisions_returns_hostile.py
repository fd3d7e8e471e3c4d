"""Council decisions and bank results under hostile input: every bad row is an error with a reason, none raises."""

from __future__ import annotations

import pytest

from etl.claims.parse import MAX_AMOUNT_KRW
from etl.payments.decisions import DECISION_REASONS, parse_decisions_file
from etl.payments.returns import RETURN_REASONS, parse_returns_file

DECISIONS_HEADER = "claimant_key,decision,approved_amount_krw,decided_by,decided_at\r\n"
GOOD_DECISION = "2118607719,approved,700000,council,2022-11-20T10:00:00+09:00"
RETURNS_HEADER = "payment_id,status,reason\r\n"


def _decisions(tmp_path, *rows: str):
    path = tmp_path / "decisions_20221120.csv"
    path.write_bytes((DECISIONS_HEADER + "".join(r + "\r\n" for r in rows)).encode("utf-8"))
    parsed = parse_decisions_file(path)
    assert len(parsed.decisions) + len(parsed.errors) == len(rows)
    assert all(e["reason"] in DECISION_REASONS for e in parsed.errors)
    assert all("\x00" not in e["raw"] and "\x00" not in e["claimant_key"] for e in parsed.errors)
    return parsed


def _returns(tmp_path, *rows: str):
    path = tmp_path / "returns_20221120.csv"
    path.write_bytes((RETURNS_HEADER + "".join(r + "\r\n" for r in rows)).encode("utf-8"))
    parsed = parse_returns_file(path)
    assert len(parsed.results) + len(parsed.errors) == len(rows)
    assert all(e["reason"] in RETURN_REASONS for e in parsed.errors)
    assert all("\x00" not in e["raw"] and "\x00" not in e["payment_id"] for e in parsed.errors)
    return parsed


def _decision_reasons(tmp_path, *rows: str) -> list[str]:
    return [e["reason"] for e in _decisions(tmp_path, *rows).errors]


def test_a_good_decision_still_parses(tmp_path):
    parsed = _decisions(tmp_path, GOOD_DECISION)
    assert [(d["claimant_key"], d["approved_amount_krw"], d["decided_at"]) for d in parsed.decisions] == [
        ("2118607719", 700000, "2022-11-20T01:00:00.000000Z")
    ]


def test_a_huge_approved_amount_is_an_error_not_an_overflow(tmp_path):
    rows = (
        "2118607719,approved,9999999999999999999,council,2022-11-20T10:00:00+09:00",
        f"2118607719,approved,{MAX_AMOUNT_KRW + 1},council,2022-11-20T10:00:00+09:00",
        f"2118607719,approved,{MAX_AMOUNT_KRW},council,2022-11-20T10:00:00+09:00",
    )
    parsed = _decisions(tmp_path, *rows)
    assert [e["reason"] for e in parsed.errors] == ["amount_too_large", "amount_too_large"]
    assert [d["approved_amount_krw"] for d in parsed.decisions] == [MAX_AMOUNT_KRW]


@pytest.mark.parametrize(
    "decided_at",
    [
        "0001-01-01T00:00:00+09:00",
        "9999-12-31T23:00:00-14:00",
        "2022-10-14T23:59:59+09:00",
        "2100-01-01T00:00:00+09:00",
        "2101-01-01T00:00:00Z",
    ],
)
def test_decided_at_outside_the_program_is_an_error(tmp_path, decided_at):
    assert _decision_reasons(tmp_path, f"2118607719,approved,700000,council,{decided_at}") == [
        "decided_at_out_of_range"
    ]


def test_decided_at_at_the_edges_is_accepted(tmp_path):
    parsed = _decisions(
        tmp_path,
        "2118607719,approved,700000,council,2022-10-15T00:00:00+09:00",
        "2118607719,approved,700000,council,2099-12-31T23:59:59+09:00",
    )
    assert not parsed.errors


@pytest.mark.parametrize(
    "row, reason",
    [
        ("2118607719,approved,700000,coun\x00cil,2022-11-20T10:00:00+09:00", "control_character"),
        ("21186\x0007719,approved,700000,council,2022-11-20T10:00:00+09:00", "control_character"),
        ("2118607719,approved,700000,c\x1bouncil,2022-11-20T10:00:00+09:00", "control_character"),
        ("1" * 101 + ",approved,700000,council,2022-11-20T10:00:00+09:00", "field_too_long"),
        ("2118607719,approved,700000," + "c" * 101 + ",2022-11-20T10:00:00+09:00", "field_too_long"),
        ('2118607719,approved,700000,"' + "c" * 200_000 + '",2022-11-20T10:00:00+09:00', "field_too_long"),
        ("2118607719,approved,７00000,council,2022-11-20T10:00:00+09:00", "bad_amount"),
        ("2118607719,approved,700000,council,２022-11-20T10:00:00+09:00", "bad_decided_at"),
        ("2118607719,approved,700000,council,2022-11-20T10:00:00", "bad_decided_at"),
        ("2118607719,approved,700000,council", "malformed_row"),
        ('2118607719,approved,700000,council,"2022-11-20T10:00:00+09:00', "malformed_row"),
    ],
)
def test_each_hostile_decision_gets_a_reason(tmp_path, row, reason):
    parsed = _decisions(tmp_path, row, GOOD_DECISION)
    assert [e["reason"] for e in parsed.errors] == [reason]
    assert len(parsed.decisions) == 1
    if reason in ("control_character", "field_too_long"):
        assert parsed.errors[0]["claimant_key"] in ("", "2118607719")


# ---------- returns ----------


def test_a_good_return_still_parses(tmp_path):
    parsed = _returns(tmp_path, "P1015-20221016-0000001,returned,account closed")
    assert [(r["payment_id"], r["status"], r["reason"]) for r in parsed.results] == [
        ("P1015-20221016-0000001", "returned", "account closed")
    ]


@pytest.mark.parametrize(
    "row, reason",
    [
        ("P1015-20221016-0000001\x00,settled,", "control_character"),
        ("P1015-20221016-0000001,returned,closed\x00", "control_character"),
        ("P1015-20221016-0000001,returned,\x1b[31mclosed", "control_character"),
        ("P" * 36 + ",settled,", "field_too_long"),
        ('P1015-20221016-0000001,returned,"' + "r" * 200_000 + '"', "field_too_long"),
        ("P1015-20221016-0000001,bounced,", "bad_status"),
        ("P1015-20221016-0000001,settled", "malformed_row"),
    ],
)
def test_each_hostile_return_gets_a_reason(tmp_path, row, reason):
    parsed = _returns(tmp_path, row, "P1015-20221016-0000002,settled,")
    assert [e["reason"] for e in parsed.errors] == [reason]
    assert [r["payment_id"] for r in parsed.results] == ["P1015-20221016-0000002"]
