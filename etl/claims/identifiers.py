"""Korean identifiers: business registration numbers (with their check digit) and phone numbers."""

from __future__ import annotations

import re

_BRN_WEIGHTS = (1, 3, 7, 1, 3, 7, 1, 3, 5)
_BRN_SHAPE = re.compile(r"([0-9]{3})-?([0-9]{2})-?([0-9]{5})")  # ASCII digits only; used with fullmatch
_PHONE_SEPARATORS = re.compile(r"[\s\-.()]")
_MOBILE = re.compile(r"01[016789][0-9]{7,8}")
_PLAIN_MOBILE = re.compile(r"(01[016789])-?([0-9]{3,4})-?([0-9]{4})")  # how most claims write it


def brn_check_digit(first_nine: str) -> int:
    """The 10th digit of a 사업자등록번호, from the first nine (NTS weights 1,3,7,1,3,7,1,3,5)."""
    digits = [int(c) for c in first_nine]
    total = sum(d * w for d, w in zip(digits, _BRN_WEIGHTS))
    total += digits[8] * 5 // 10
    return (10 - total % 10) % 10


def normalise_brn(value: str) -> tuple[str | None, str | None]:
    """Return (10-digit number, None) or (None, reason) for a business number as written on a claim.

    Accepts `1234567890` and `123-45-67890`. python-stdnum's kr.brn checks the shape only;
    this also checks the check digit, which catches most typos.
    """
    value = value.strip()
    if not value:
        return None, "missing_business_reg_no"
    match = _BRN_SHAPE.fullmatch(value)
    if not match:
        return None, "bad_business_reg_no"
    digits = "".join(match.groups())
    if brn_check_digit(digits[:9]) != int(digits[9]):
        return None, "bad_check_digit"
    return digits, None


def normalise_phone(value: str) -> str | None:
    """A Korean mobile number as `010XXXXXXXX`, or None when it is not one.

    Accepts `010-1234-5678`, `01012345678`, `010 1234 5678`, `+82 10 1234 5678`, `+82-10-...`, `82...`.
    """
    plain = _PLAIN_MOBILE.fullmatch(value)
    if plain:  # what the general rule below gives it, in one step
        return "".join(plain.groups())
    digits = _PHONE_SEPARATORS.sub("", value.strip())
    if digits.startswith("+82"):
        digits = "0" + digits[3:]
    elif digits.startswith("82") and len(digits) in (11, 12):
        digits = "0" + digits[2:]
    if digits.startswith("00"):  # +82 0 10 ... written with the trunk zero kept
        digits = digits[1:]
    if _MOBILE.fullmatch(digits):
        return digits
    return None
