import pytest

from etl.claims.identifiers import brn_check_digit, normalise_brn, normalise_phone


@pytest.mark.parametrize("brn", ["2118607719", "211-86-07719", "3051408826", "120-81-03014"])
def test_valid_business_numbers_normalise_to_ten_digits(brn):
    digits, reason = normalise_brn(brn)
    assert reason is None
    assert digits == brn.replace("-", "")


def test_check_digit_is_enforced_where_stdnum_only_checks_the_shape():
    # 211-86-07719 is valid; changing the last digit keeps the shape but breaks the check digit.
    assert brn_check_digit("211860771") == 9
    assert normalise_brn("2118607718") == (None, "bad_check_digit")
    assert normalise_brn("211-86-07710") == (None, "bad_check_digit")


@pytest.mark.parametrize("bad", ["211860771", "21186077190", "211-8607-719", "abcdefghij", "211 86 07719"])
def test_malformed_business_numbers(bad):
    assert normalise_brn(bad) == (None, "bad_business_reg_no")


def test_missing_business_number():
    assert normalise_brn("  ") == (None, "missing_business_reg_no")


@pytest.mark.parametrize(
    "phone",
    [
        "010-1234-5678",
        "01012345678",
        "010 1234 5678",
        "+82 10 1234 5678",
        "+82-10-1234-5678",
        "+821012345678",
        "(010) 1234-5678",
    ],
)
def test_every_common_phone_form_normalises(phone):
    assert normalise_phone(phone) == "01012345678"


@pytest.mark.parametrize("bad", ["1234", "02-123-4567", "phone", "010-1234-567a", ""])
def test_non_mobile_numbers_are_not_keys(bad):
    assert normalise_phone(bad) is None


def test_full_width_digits_are_not_ascii_digits():
    assert normalise_brn("２１１８６０７７１９") == (None, "bad_business_reg_no")
