"""What a Korean bank needs beyond the payment rows: the execution date, message ids, passbook texts, the bulk sheet.

* `execution_date`: the requested execution date of a batch: the first Korean business day on or after the
  day (KST) the batch was approved. Never the intake day itself (already past when a person approves) and
  never a weekend or a holiday.
* `message_id`: a pain.001 `MsgId` per published batch content (the approved batch's SHA-256 is in it), so
  two different batches of a day never share one, and a rerun of the same batch gets the same one.
* `remittance_text` / `payer_text`: what each side's passbook (통장) shows, short Korean text.
* `bulk_transfer_xlsx`: the internet-banking bulk-transfer sheet (대량이체) most Korean banks take as an upload,
  beside `payments.csv` and `pain001.xml`.

The passbook texts below are module constants for now; they belong in the program config (they name the
program), where they are meant to move.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from etl.core.errors import ReliefError

# --- the calendar -------------------------------------------------------------------------------------

# Years the holiday calendar covers. A date outside them raises instead of guessing: extend the range (and
# update the `holidays` package, which learns each year's temporary holidays when they are declared).
HOLIDAY_YEARS = range(2022, 2031)
# `holidays.KR` categories: "public" (공휴일: the lunar holidays, substitute holidays (대체공휴일) and
# temporary holidays and election days, as the package has them) and "bank" (Workers' Day, 5월 1일, when
# Korean banks are closed although it is not a public holiday).
HOLIDAY_CATEGORIES = ("public", "bank")


@functools.cache
def _holidays() -> Mapping[dt.date, str]:
    import holidays

    return holidays.KR(years=HOLIDAY_YEARS, categories=HOLIDAY_CATEGORIES, language="en_US")


def holiday_name(day: dt.date) -> str | None:
    """The Korean holiday on `day` (English name), or None."""
    if day.year not in HOLIDAY_YEARS:
        raise ReliefError(
            f"{day}: outside the Korean holiday calendar kept here ({HOLIDAY_YEARS.start}..{HOLIDAY_YEARS.stop - 1}):"
            " extend etl.payments.banking.HOLIDAY_YEARS"
        )
    return _holidays().get(day)


def is_business_day(day: dt.date) -> bool:
    """Monday to Friday and not a Korean public or bank holiday."""
    return day.weekday() < 5 and holiday_name(day) is None


def execution_date(approved_at: dt.datetime, program_tz: dt.tzinfo) -> dt.date:
    """The first Korean business day on or after the approval's date in the program's time zone (KST).

    `approved_at` must carry its offset (the warehouse's `decided_at` is UTC ISO 8601: parse it with
    `datetime.fromisoformat`). Raises ValueError for a naive time, ReliefError outside HOLIDAY_YEARS.
    """
    if approved_at.tzinfo is None or approved_at.utcoffset() is None:
        raise ValueError("approved_at has no time zone: give an aware datetime (decided_at is UTC)")
    day = approved_at.astimezone(program_tz).date()
    while not is_business_day(day):
        day += dt.timedelta(days=1)
    return day


# --- identifiers --------------------------------------------------------------------------------------

MAX_MESSAGE_ID = 35  # ISO 20022 Max35Text
MESSAGE_ID_HASH_DIGITS = 10
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PREFIX = re.compile(r"[A-Za-z0-9]+")


def message_id(prefix: str, day: dt.date, batch_sha256: str) -> str:
    """`PREFIX-YYYYMMDD-<first 10 hex of the batch's SHA-256>`: one per batch content, the same on a rerun.

    `batch_sha256` is the approved batch's (`batch_approvals.batch_sha256`, `approval.facts_of`).
    """
    if not _PREFIX.fullmatch(prefix or ""):
        raise ValueError(f"message id prefix {prefix!r} must be letters and digits")
    if not _SHA256.fullmatch(batch_sha256 or ""):
        raise ValueError("batch_sha256 must be 64 lowercase hex digits")
    msg_id = f"{prefix}-{day:%Y%m%d}-{batch_sha256[:MESSAGE_ID_HASH_DIGITS]}"
    if len(msg_id) > MAX_MESSAGE_ID:
        raise ValueError(f"message id {msg_id} is longer than {MAX_MESSAGE_ID} characters: shorten the prefix")
    return msg_id


# --- passbook texts (to move into the program config) -------------------------------------------------

# The most a passbook text may hold here, in characters. Banks differ (some take 10 Hangul, some 7): a bank's
# layout with a shorter limit needs shorter texts, not truncation.
PASSBOOK_MAX_CHARS = 20
PAYEE_TEXT_BASE = "카카오1015피해지원"
# What the business's passbook shows, by `basis`: the program and why (3만 = 30,000 won, 심의 = council review).
PAYEE_TEXTS: Mapping[str, str] = {
    "tier_30000": PAYEE_TEXT_BASE + "3만",
    "tier_50000": PAYEE_TEXT_BASE + "5만",
    "review_approved": PAYEE_TEXT_BASE + "심의",
    "top_up": PAYEE_TEXT_BASE + "추가",
}


def remittance_text(basis: str) -> str:
    """The payee's passbook text for a payment basis (KeyError names an unknown basis)."""
    if basis in PAYEE_TEXTS:
        return PAYEE_TEXTS[basis]
    tier = re.fullmatch(r"tier_([0-9]+)", basis)  # any tier of the program config: its support amount
    if tier is None:
        raise KeyError(f"no passbook text for basis {basis!r}: add it to PAYEE_TEXTS")
    won = int(tier.group(1))
    return (PAYEE_TEXT_BASE + (f"{won // 10000}만" if won % 10000 == 0 else f"{won:,}원"))[:PASSBOOK_MAX_CHARS]


def payee_text(payment: Mapping[str, object]) -> str:
    """`remittance_text` of a payment row: what `build_pain001(remittance=...)` takes."""
    return remittance_text(str(payment["basis"]))


def payer_text(payment: Mapping[str, object]) -> str:
    """What the program's own passbook shows for a transfer: the payment id without its program prefix
    (`P1015-20221016-0000001` → `20221016-0000001`), so each debit finds its row in payments.csv."""
    pid = str(payment["payment_id"])
    return pid.split("-", 1)[1][-PASSBOOK_MAX_CHARS:] if "-" in pid else pid[-PASSBOOK_MAX_CHARS:]


# --- the bulk-transfer sheet (대량이체) -------------------------------------------------------------------

BULK_TRANSFER_XLSX = "bulk_transfer.xlsx"
SHEET_NAME = "대량이체"
# (header, field): a field is a payments.csv column or one of COMPUTED_FIELDS. A bank whose upload differs
# gets its own layout (same shape) instead of a code change.
DEFAULT_LAYOUT: tuple[tuple[str, str], ...] = (
    ("입금은행코드", "bank_code"),
    ("입금계좌번호", "account_no"),
    ("예금주", "account_holder"),
    ("이체금액", "amount_krw"),
    ("받는분통장표시", "payee_text"),
    ("보내는분통장표시", "payer_text"),
)
# Fields written as numbers (whole won, format "0"); every other cell is text (format "@"), so a bank code
# or an account number keeps its leading zeros. A layout whose bank wants amounts as text passes frozenset().
DEFAULT_NUMERIC_FIELDS = frozenset({"amount_krw"})
# The only fields a layout may write as numbers: a bank code or an account number as a number loses its zeros.
NUMBER_FIELDS = frozenset({"amount_krw"})
COMPUTED_FIELDS: Mapping[str, Callable[[Mapping[str, object]], str]] = {
    "payee_text": payee_text,
    "payer_text": payer_text,
}
# No clock in the file: its creation date is fixed, so the same payments always give the same bytes.
FIXED_CREATED = dt.datetime(2022, 10, 15, 0, 0, 0)


def cell_value(payment: Mapping[str, object], field: str, numeric_fields: Iterable[str]) -> str | int:
    """A payment's value for a layout field, as the sheet holds it (int for numeric fields, else text)."""
    if field in COMPUTED_FIELDS:
        value: object = COMPUTED_FIELDS[field](payment)
    elif field in payment:
        value = payment[field]
    else:
        raise ValueError(f"layout field {field!r} is neither a payment column nor one of {sorted(COMPUTED_FIELDS)}")
    if field in set(numeric_fields):
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
            raise ValueError(f"{field} must be a whole number")  # never echo the value: it may be an account
        return int(value)
    return "" if value is None else str(value)


def bulk_transfer_xlsx(
    payments: Sequence[Mapping[str, object]],
    layout: Sequence[tuple[str, str]] = DEFAULT_LAYOUT,
    *,
    numeric_fields: Iterable[str] = DEFAULT_NUMERIC_FIELDS,
) -> bytes:
    """The bulk-transfer workbook: one header row (frozen), one row per payment in the order given.

    Text cells (codes, account numbers, names, passbook texts) are strings with the text format "@" (whole
    columns too, so a cell typed in later stays text); `numeric_fields` are integers with format "0". A
    string is never written as a formula. The bytes depend only on the arguments.
    """
    import xlsxwriter

    if not layout:
        raise ValueError("a bulk-transfer layout needs at least one column")
    numeric = frozenset(numeric_fields)
    if numeric - NUMBER_FIELDS:
        raise ValueError(
            f"only {', '.join(sorted(NUMBER_FIELDS))} may be written as a number, not {', '.join(sorted(numeric))}:"
            " codes and account numbers would lose their leading zeros"
        )
    buf = io.BytesIO()
    workbook = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    workbook.set_properties({"created": FIXED_CREATED})
    text_fmt = workbook.add_format({"num_format": "@"})
    header_fmt = workbook.add_format({"num_format": "@", "bold": True})
    number_fmt = workbook.add_format({"num_format": "0"})
    sheet = workbook.add_worksheet(SHEET_NAME)
    for col, (header, field) in enumerate(layout):
        sheet.set_column(col, col, max(12, 2 * len(header) + 2), number_fmt if field in numeric else text_fmt)
        sheet.write_string(0, col, header, header_fmt)
    for row, payment in enumerate(payments, start=1):
        for col, (_, field) in enumerate(layout):
            value: Any = cell_value(payment, field, numeric)
            if isinstance(value, int):
                sheet.write_number(row, col, value, number_fmt)
            else:
                sheet.write_string(row, col, value, text_fmt)
    sheet.freeze_panes(1, 0)
    workbook.close()
    return buf.getvalue()
