"""Claim rows an attacker would write: each is quarantined with a reason, never a crash or a bad accepted row."""

from __future__ import annotations

import datetime as dt

import pytest

from etl.claims.parse import (
    MAX_AMOUNT_KRW,
    REASONS,
    RowError,
    load_services,
    normalise_row,
    parse_claims_file,
    parse_timestamp,
)
from etl.io.csvfile import MalformedFileError
from etl.payments.iso20022 import build_pain001
from tests.builders import claim, claims_csv

DAY = dt.date(2022, 10, 16)
OUTAGE = dt.date(2022, 10, 15)
KST = dt.timezone(dt.timedelta(hours=9))


@pytest.fixture(scope="module")
def services(program):
    return load_services(program.services_path)


def _parse(tmp_path, services, data: bytes, **kw):
    path = tmp_path / "claims_20221016.csv"
    path.write_bytes(data)
    day = parse_claims_file(path, services, **kw)
    assert day.rows_received == len(day.rows) + len(day.quarantined)
    return day


def _reasons(day) -> list[str]:
    return [q["reason"] for q in day.quarantined]


def _reason_of(services, **overrides) -> str:
    with pytest.raises(RowError) as err:
        normalise_row(claim(**overrides), services)
    assert err.value.reason in REASONS
    return err.value.reason


# ---------- rows that crashed ----------


def test_a_quoted_description_over_the_csv_field_limit_is_quarantined(tmp_path, services):
    rows = [claim(receipt_no="R1", description="x" * 131_073), claim(receipt_no="R2")]
    day = _parse(tmp_path, services, claims_csv(rows))
    assert _reasons(day) == ["field_too_long"] and [r["receipt_no"] for r in day.rows] == ["R2"]
    assert "131073" in day.quarantined[0]["detail"] and "xxxx" not in day.quarantined[0]["detail"]


def test_a_bare_cr_in_an_unquoted_field_is_quarantined(tmp_path, services):
    data = claims_csv([claim(receipt_no="R1", description="has, a comma")]).replace(b"\xed\x96\x89", b"\r\xed\x96\x89")
    day = _parse(tmp_path, services, data + claims_csv([claim(receipt_no="R2")]).split(b"\r\n", 1)[1])
    assert _reasons(day) == ["control_character"] and [r["receipt_no"] for r in day.rows] == ["R2"]


@pytest.mark.parametrize("received_at", ["0001-01-01T00:00:00+09:00", "9999-12-31T23:00:00-14:00"])
def test_received_at_that_overflows_is_quarantined(tmp_path, services, received_at):
    assert _reason_of(services, received_at=received_at) == "received_at_out_of_range"
    day = _parse(tmp_path, services, claims_csv([claim(received_at=received_at)]))
    assert _reasons(day) == ["received_at_out_of_range"]


def test_parse_timestamp_never_lets_overflow_escape():
    for value in ("0001-01-01T00:00:00+09:00", "9999-12-31T23:00:00-14:00", "0001-01-01T00:00:00-23:59"):
        with pytest.raises(RowError):
            parse_timestamp(value)


def test_a_huge_claimed_loss_is_quarantined(services):
    assert _reason_of(services, claimed_loss_krw="9999999999999999999") == "amount_too_large"
    assert _reason_of(services, claimed_loss_krw=str(MAX_AMOUNT_KRW + 1)) == "amount_too_large"
    assert normalise_row(claim(claimed_loss_krw=str(MAX_AMOUNT_KRW)), services)["claimed_loss_krw"] == MAX_AMOUNT_KRW
    assert _reason_of(services, claimed_loss_krw="9" * 5000) == "field_too_long"


@pytest.mark.parametrize("account_no", ["1" * 50, "1" * 21, "12345", "1-2-3-4-5"])
def test_an_account_number_outside_6_to_20_digits_is_quarantined(services, account_no):
    assert _reason_of(services, account_no=account_no) == "bad_bank_details"


def test_account_numbers_of_6_and_20_digits_are_accepted(services):
    for digits in ("123456", "1" * 20, "1234-5678-9012-3456-7890"):
        assert normalise_row(claim(account_no=digits), services)["account_no"] == digits.replace("-", "")


def test_a_200000_character_payee_name_is_quarantined(services):
    assert _reason_of(services, claimant_name="가" * 200_000) == "field_too_long"
    assert _reason_of(services, account_holder="A" * 101) == "field_too_long"
    assert normalise_row(claim(claimant_name="가" * 100), services)["claimant_name"] == "가" * 100


@pytest.mark.parametrize("column", ["receipt_no", "claimant_name", "phone", "account_holder", "description", "service"])
def test_nul_anywhere_is_quarantined(services, column):
    assert _reason_of(services, **{column: "a\x00b"}) == "control_character"


@pytest.mark.parametrize("char", ["\x01", "\x1b", "\x7f", "\x85", "\t", "\n", "\ufffe"])
def test_control_characters_in_names_are_quarantined(services, char):
    assert _reason_of(services, claimant_name=f"김{char}행복") == "control_character"


def test_description_may_hold_tabs_and_line_breaks_but_not_other_controls(services):
    text = "첫 줄\r\n둘째\t줄\n셋째\r줄"
    assert normalise_row(claim(description=text), services)["description"] == text
    assert _reason_of(services, description="벨\x07") == "control_character"
    assert _reason_of(services, description="x" * 4001) == "field_too_long"
    assert normalise_row(claim(description="x" * 4000), services)["description"] == "x" * 4000


def test_bank_details_without_a_payee_name_are_quarantined(services):
    assert _reason_of(services, claimant_name=" ", account_holder="") == "bad_bank_details"
    row = normalise_row(claim(claimant_name="", account_holder="김행복"), services)
    assert row["account_holder"] == "김행복"


def test_the_raw_text_of_a_nul_row_is_safe_for_postgresql(tmp_path, services):
    day = _parse(tmp_path, services, claims_csv([claim(claimant_name="a\x00b")]))
    assert _reasons(day) == ["control_character"] and "\x00" not in day.quarantined[0]["raw"]


# ---------- a valid file loses no claim ----------


def test_a_description_with_a_newline_and_15_commas_is_accepted(tmp_path, services):
    description = "첫 줄\n" + "," * 15
    day = _parse(
        tmp_path, services, claims_csv([claim(receipt_no="R1", description=description), claim(receipt_no="R2")])
    )
    assert not day.quarantined
    assert [(r["receipt_no"], r["description"]) for r in day.rows] == [("R1", description), ("R2", "주문 알림 누락")]


# ---------- personal data stays out of error messages ----------


def test_a_header_less_file_error_shows_no_personal_data(tmp_path, services):
    data = claims_csv([claim(), claim()]).split(b"\r\n", 1)[1]
    path = tmp_path / "claims_20221016.csv"
    path.write_bytes(data)
    with pytest.raises(MalformedFileError) as err:
        parse_claims_file(path, services)
    message = str(err.value)
    assert "claims_20221016.csv" in message and "line 1" in message and "receipt_no" in message
    row = claim()
    for column in ("phone", "business_reg_no", "account_no", "claimant_name", "account_holder", "description"):
        assert row[column] not in message, column


# ---------- CONTRACT.md section 2: received in range ----------


@pytest.mark.parametrize(
    "received_at, ok",
    [
        ("2022-10-16T23:59:59.999999+09:00", True),
        ("2022-10-16T14:59:59+00:00", True),
        ("2022-10-17T00:00:00+09:00", False),
        ("2022-10-16T15:00:00+00:00", False),
        ("2022-10-15T00:00:00+09:00", True),
        ("2022-10-14T15:00:00Z", True),
        ("2022-10-14T23:59:59+09:00", False),
        ("2022-10-14T14:59:59Z", False),
    ],
)
def test_received_at_must_fall_between_the_outage_and_the_files_day(tmp_path, services, received_at, ok):
    day = _parse(tmp_path, services, claims_csv([claim(received_at=received_at)]), day=DAY, outage_date=OUTAGE)
    assert _reasons(day) == ([] if ok else ["received_at_out_of_range"])


def test_without_a_day_the_range_is_only_the_sane_one(tmp_path, services):
    day = _parse(tmp_path, services, claims_csv([claim(received_at="2022-12-01T10:00:00+09:00")]))
    assert not day.quarantined


def test_the_range_bounds_are_keyword_only(tmp_path, services):
    path = tmp_path / "claims_20221016.csv"
    path.write_bytes(claims_csv([claim()]))
    with pytest.raises(TypeError):
        parse_claims_file(path, services, DAY, OUTAGE)  # type: ignore[misc]


# ---------- an accepted row can always be published ----------


def test_accepted_rows_build_a_pain001(services):
    row = normalise_row(claim(claimant_name='=HYPERLINK("x")' + "가" * 80, account_no="1" * 20), services)
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
    xml = build_pain001(
        [payment],
        run_date=DAY,
        message_id="P1015-20221016",
        created_at=dt.datetime(2022, 10, 16, 23, 0, tzinfo=KST),
        debtor={"name": "Kakao Corp 1015 relief", "account": "47790101234567", "bank_code": "004"},
    )
    assert b"<EndToEndId>P1015-20221016-0000001</EndToEndId>" in xml
