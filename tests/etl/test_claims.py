import pytest

from etl.claims.parse import REASONS, RowError, damage_category, load_services, normalise_row, parse_claims_file
from tests.builders import claim, claims_csv


@pytest.fixture(scope="module")
def services(program):
    return load_services(program.services_path)


def test_a_valid_business_claim_is_normalised(services):
    row = normalise_row(claim(business_reg_no="211-86-07719", account_no="110-432-118290"), services)
    assert row["claimant_key"] == "2118607719"
    assert row["business_reg_no"] == "2118607719"
    assert row["account_no"] == "110432118290"
    assert row["received_at"] == "2022-10-15T01:00:00.000000Z"  # the builder's 10:00 KST on the outage's day
    assert row["claimed_loss_krw"] == 100000
    assert row["kakao_corp"] is True and row["operator"] == "Kakao Corp"


def test_individual_key_is_account_id_else_phone(services):
    with_id = normalise_row(
        claim(claimant_type="individual", kakao_account_id="jimin.park", business_reg_no=""), services
    )
    assert with_id["claimant_key"] == "jimin.park"
    by_phone = normalise_row(claim(claimant_type="individual", phone="+82 10 5550 1234", business_reg_no=""), services)
    assert by_phone["claimant_key"] == "01055501234"


def test_amount_is_ignored_without_a_monetary_loss(services):
    row = normalise_row(claim(monetary_loss="false", claimed_loss_krw="abc"), services)
    assert row["claimed_loss_krw"] is None


@pytest.mark.parametrize(
    "overrides, reason",
    [
        ({"receipt_no": " "}, "missing_receipt_no"),
        ({"received_at": "2022/10/16 10:00"}, "bad_received_at"),
        ({"received_at": "2022-10-16T10:00:00"}, "bad_received_at"),
        ({"channel": "fax"}, "bad_channel"),
        ({"claimant_type": "government"}, "bad_claimant_type"),
        ({"service": "kakao_moon"}, "unknown_service"),
        ({"paid_service": "yes"}, "bad_boolean"),
        ({"claimed_loss_krw": ""}, "missing_amount"),
        ({"claimed_loss_krw": "삼십만원"}, "bad_amount"),
        ({"claimed_loss_krw": "300,000"}, "bad_amount"),
        ({"claimed_loss_krw": "1.5"}, "bad_amount"),
        ({"claimed_loss_krw": "-1"}, "negative_amount"),
        ({"business_reg_no": ""}, "missing_business_reg_no"),
        ({"business_reg_no": "12345"}, "bad_business_reg_no"),
        ({"business_reg_no": "2118607718"}, "bad_check_digit"),
        ({"claimant_type": "enterprise", "business_reg_no": "2118607718"}, "bad_check_digit"),
        ({"claimant_type": "individual", "kakao_account_id": "", "phone": "02-123-4567"}, "no_claimant_key"),
        ({"bank_code": "88"}, "bad_bank_details"),
        ({"account_no": ""}, "bad_bank_details"),
        ({"bank_code": "", "account_no": "110-432"}, "bad_bank_details"),
    ],
)
def test_each_bad_row_gets_its_reason(services, overrides, reason):
    with pytest.raises(RowError) as err:
        normalise_row(claim(**overrides), services)
    assert err.value.reason == reason
    assert reason in REASONS


def test_bank_details_are_optional(services):
    row = normalise_row(claim(bank_code="", account_no="", account_holder=""), services)
    assert row["bank_code"] is None and row["account_no"] is None


def test_damage_categories():
    assert damage_category({"paid_service": True, "monetary_loss": False}) == "paid_service"
    assert damage_category({"paid_service": True, "monetary_loss": True}) == "paid_service"
    assert damage_category({"paid_service": False, "monetary_loss": True}) == "free_monetary"
    assert damage_category({"paid_service": False, "monetary_loss": False}) == "non_monetary"


def test_a_file_keeps_every_row_either_valid_or_quarantined(tmp_path, services):
    data = claims_csv([claim(receipt_no="R1"), claim(receipt_no="R2", business_reg_no="2118607718")])
    data += b"R3,broken\n"
    data += (
        claims_csv([claim(receipt_no="R4", claimant_name="\uae40\ubc25")])
        .split(b"\r\n", 1)[1]
        .replace("김밥".encode(), "김밥".encode("cp949"))
    )
    path = tmp_path / "claims_20221016.csv"
    path.write_bytes(data)
    day = parse_claims_file(path, services)
    assert day.rows_received == 4
    assert [r["receipt_no"] for r in day.rows] == ["R1"]
    assert [(q["line_no"], q["reason"]) for q in day.quarantined] == [
        (3, "bad_check_digit"),
        (4, "wrong_field_count"),
        (5, "invalid_utf8"),
    ]


def test_the_contract_sample_parses(program, services):
    from pathlib import Path

    sample = Path(__file__).resolve().parents[3] / "shared" / "spec" / "sample" / "claims_20221016.csv"
    if not sample.exists():
        pytest.skip("shared/spec/sample not beside the repo")
    day = parse_claims_file(sample, services)
    assert day.rows_received == 5 and not day.quarantined
    assert {r["claimant_key"] for r in day.rows} == {"2118607719", "jimin.park", "3051408826", "01099990000"}
