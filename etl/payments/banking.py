"""What a Korean bank needs beyond the payment rows: the execution date, message ids, passbook texts, the bulk sheet.

* `execution_date`: the requested execution date of a batch: the first Korean business day on or after the
  day (KST) the batch was approved. Never the intake day itself (already past when a person approves) and
  never a weekend or a holiday.
* `message_id`: a pain.001 `MsgId` per published batch content (the approved batch's SHA-256 is in it), so
  two different batches of a day never share one, and a rerun of the same batch gets the same one.
* `remittance_text` / `payer_text`: what each side's passbook (통장) shows, short Korean text.
* `bulk_transfer_xlsx`: the internet-banking bulk-transfer sheet (대량이체) most Korean banks take as an upload,
  beside `payments.csv` and `pain001.xml`.

The passbook texts and the sheet's columns are the program's ([bank] in its config, `etl.core.config.Bank`):
a bank with another layout or a shorter passbook is a config change. Each function takes the `Bank` to use
and defaults to the config this process runs ($RELIEF_PROGRAM).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
from collections.abc import Callable, Mapping, Sequence

from etl.core import contract
from etl.core.config import Bank
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
def _holidays(year: int) -> Mapping[dt.date, str]:
    """One year's calendar, made when first asked for: all of HOLIDAY_YEARS costs a day's publish 70 ms."""
    import holidays

    return holidays.KR(years=year, categories=HOLIDAY_CATEGORIES, language="en_US")


def holiday_name(day: dt.date) -> str | None:
    """The Korean holiday on `day` (English name), or None."""
    if day.year not in HOLIDAY_YEARS:
        raise ReliefError(
            f"{day}: outside the Korean holiday calendar kept here ({HOLIDAY_YEARS.start}..{HOLIDAY_YEARS.stop - 1}):"
            " extend etl.payments.banking.HOLIDAY_YEARS"
        )
    return _holidays(day.year).get(day)


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


# --- passbook texts ([bank] in the program config) -----------------------------------------------------


def configured_bank() -> Bank:
    """The [bank] table of the program config this process runs ($RELIEF_PROGRAM, read once per file)."""
    return _bank_of_program(os.environ.get("RELIEF_PROGRAM") or "")


@functools.cache
def _bank_of_program(path: str) -> Bank:
    from etl.core.config import load_program

    return load_program(path or None).bank


def remittance_text(basis: str, bank: Bank | None = None) -> str:
    """The payee's passbook text for a payment basis (KeyError names a basis the config gives no text)."""
    texts = (bank or configured_bank()).payee_texts
    if basis not in texts:
        raise KeyError(f"no passbook text for basis {basis!r}: add it to [bank] payee_texts in the program config")
    return texts[basis]


def payee_text(payment: Mapping[str, object], bank: Bank | None = None) -> str:
    """`remittance_text` of a payment row: what `build_pain001(remittance=...)` takes."""
    return remittance_text(str(payment["basis"]), bank)


def payer_text(payment: Mapping[str, object], bank: Bank | None = None) -> str:
    """What the program's own passbook shows for a transfer: the payment id without its program prefix
    (`P1015-20221016-0000001` → `20221016-0000001`), so each debit finds its row in payments.csv."""
    most = (bank or configured_bank()).passbook_max_chars
    pid = str(payment["payment_id"])
    return pid.split("-", 1)[1][-most:] if "-" in pid else pid[-most:]


# --- the bulk-transfer sheet (대량이체) -------------------------------------------------------------------

SHEET_NAME = "대량이체"
COMPUTED_FIELDS: Mapping[str, Callable[[Mapping[str, object], Bank | None], str]] = {
    "payee_text": payee_text,
    "payer_text": payer_text,
}
# No clock in the file: its creation date is fixed, so the same payments always give the same bytes.
FIXED_CREATED = dt.datetime(2022, 10, 15, tzinfo=dt.UTC)


def cell_value(payment: Mapping[str, object], field: str, bank: Bank) -> str | int:
    """A payment's value for a layout field, as the bank's sheet holds it (int for its number fields, else text)."""
    if field in COMPUTED_FIELDS:
        value: object = COMPUTED_FIELDS[field](payment, bank)
    elif field in payment:
        value = payment[field]
    else:
        raise ValueError(f"layout field {field!r} is neither a payment column nor one of {sorted(COMPUTED_FIELDS)}")
    if field in bank.bulk_transfer_number_fields:
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
            raise ValueError(f"{field} must be a whole number")  # never echo the value: it may be an account
        return int(value)
    return "" if value is None else str(value)


def bulk_transfer_xlsx(payments: Sequence[Mapping[str, object]], bank: Bank | None = None) -> bytes:
    """The bulk-transfer workbook in the bank's layout: one header row (frozen), one row per payment in the
    order given. `bank` defaults to the [bank] of the program config this process runs.

    Text cells (codes, account numbers, names, passbook texts) are strings with the text format "@" (whole
    columns too, so a cell typed in later stays text); the bank's number fields are integers with format "0". A
    string is never written as a formula. The bytes depend only on the arguments.
    """
    from etl.reports.fast_xlsx import SheetWriter  # xlsxwriter took ~8 µs a cell; a day can pay millions

    bank = bank or configured_bank()
    layout, numeric = bank.bulk_transfer_columns, bank.bulk_transfer_number_fields
    if not layout:
        raise ValueError("a bulk-transfer layout needs at least one column")
    if numeric - contract.BULK_NUMBER_FIELDS:
        raise ValueError(
            f"only {', '.join(sorted(contract.BULK_NUMBER_FIELDS))} may be written as a number, not"
            f" {', '.join(sorted(numeric))}: codes and account numbers would lose their leading zeros"
        )
    text, number, header = 1, 2, 3  # the styles, in the order the formats are given
    sheet = SheetWriter(len(layout), [{"num_format": "@"}, {"num_format": "0"}, {"num_format": "@", "bold": True}])
    sheet.row([title for title, _ in layout], [header] * len(layout))
    styles = [number if field in numeric else text for _, field in layout]
    for payment in payments:
        sheet.row([cell_value(payment, field, bank) for _, field in layout], styles)
    widths = [max(12, 2 * len(title) + 2) for title, _ in layout]
    return sheet.xlsx(SHEET_NAME, widths, styles, created=FIXED_CREATED)
