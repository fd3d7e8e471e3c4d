"""Claims: read a day's intake file, normalise each row, and give every bad row a reason.

Pure functions over rows (dicts): no database, no Airflow. The pipeline stores what they return.

Every field is typed and bounded here, so that nothing a later step needs can fail on an accepted row:
amounts up to `MAX_AMOUNT_KRW` (SQLite's 64-bit integers hold the sum of millions of them), timestamps
that exist and fall in range, account numbers of 6-20 digits (pain.001's account id is at most 34),
names up to 100 characters (pain.001's Max140Text), free text up to 4,000, and no control character
(PostgreSQL text cannot hold NUL; XML cannot hold most C0 characters). A value out of bounds is
quarantined with a reason, never cut or cleaned.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import operator
import os
import re
import sys
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from etl.claims.blocks import canonical_values
from etl.claims.counts import damage_category  # noqa: F401 - re-exported: tests and callers import it here
from etl.claims.identifiers import normalise_brn, normalise_phone
from etl.io.csvblocks import WINDOW_BYTES, read_windows
from etl.io.csvfile import MalformedFileError, Record, read_records

CLAIM_COLUMNS = [
    "receipt_no",
    "received_at",
    "channel",
    "claimant_type",
    "claimant_name",
    "kakao_account_id",
    "phone",
    "business_reg_no",
    "service",
    "paid_service",
    "monetary_loss",
    "claimed_loss_krw",
    "bank_code",
    "account_no",
    "account_holder",
    "description",
]
# A normalised claim's values, in the order `iter_claim_values` gives them (the order of the deliveries table;
# kakao_corp, paid_service and monetary_loss as 0/1, the warehouse's form).
CLAIM_VALUE_COLUMNS = (
    "receipt_no",
    "received_at",
    "channel",
    "claimant_type",
    "claimant_key",
    "claimant_name",
    "kakao_account_id",
    "phone",
    "business_reg_no",
    "service",
    "operator",
    "kakao_corp",
    "paid_service",
    "monetary_loss",
    "claimed_loss_krw",
    "bank_code",
    "account_no",
    "account_holder",
    "description",
)
CHANNELS = {"web", "kakaotalk", "phone", "email"}
CLAIMANT_TYPES = ("individual", "small_business", "enterprise")
BUSINESS_TYPES = {"small_business", "enterprise"}
_BOOLS = {"true": True, "false": False}
_FLAGS = {"true": 1, "false": 0}
_FLAG_COLUMNS = ("kakao_corp", "paid_service", "monetary_loss")
_ACCOUNT = re.compile(r"^[0-9][0-9-]*[0-9]$")
_NEGATIVE = re.compile(r"-[0-9]+")
_WHOLE = re.compile(r"\+?[0-9]+")
_BANK_CODE = re.compile(r"[0-9]{3}")
_UTC = dt.UTC
KST = dt.timezone(dt.timedelta(hours=9), "KST")

# Contract bounds (CONTRACT.md section 1; to move into the program config). A value outside them is
# quarantined with a reason, never truncated.
MAX_AMOUNT_KRW = 10**12  # claimed_loss_krw and approved_amount_krw: at most one trillion won
ACCOUNT_DIGITS = (6, 20)  # account_no, hyphens removed (pain.001 allows 34)
# The most characters a field may hold (after trimming spaces; description as given). bank_code and
# account_no are bounded by their own rule (3 digits; 6-20 digits): breaking it is `bad_bank_details`.
FIELD_LIMITS = {
    "receipt_no": 64, "received_at": 64, "channel": 16, "claimant_type": 32, "claimant_name": 100,
    "kakao_account_id": 100, "phone": 32, "business_reg_no": 32, "service": 64, "paid_service": 16,
    "monetary_loss": 16, "claimed_loss_krw": 32, "account_holder": 70, "description": 4000,
}  # fmt: skip  # account_holder 70: pain.001's CdtrAcct/Nm is Max70Text, so it is never cut in the bank file
# Any timestamp must fall in [EARLIEST, END); a claim's received_at also in its file's range (parse_claims_file).
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=KST)
END = dt.datetime(2100, 1, 1, tzinfo=KST)
# Control characters (C0, DEL, C1) and the two code points XML cannot carry; free text may hold tab and line breaks.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ufffe\uffff]")
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
FREE_TEXT = frozenset({"description"})
_SANE = (EARLIEST.astimezone(_UTC), END.astimezone(_UTC))
# The intake's usual received_at (whole seconds, a whole-hour offset): converted by the hour (`_ReceivedAt`).
_HOURLY_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-5][0-9]:[0-5][0-9][+-][0-9]{2}:00")

# Every reason a row can be quarantined for, in the order the checks run (README documents them).
REASONS = {
    "invalid_utf8": "the row holds bytes that are not UTF-8",
    "bad_quoting": "the row's quoting is broken (RFC 4180)",
    "wrong_field_count": "the row does not have the header's 16 fields",
    "record_too_long": "the row is over 16 MiB (it is kept truncated)",
    "control_character": "a field holds a control character (C0, DEL, C1) or U+FFFE/U+FFFF; only description"
    " may hold tabs and line breaks",
    "field_too_long": "a field is longer than its bound (names 100 characters, description 4,000)",
    "missing_receipt_no": "receipt_no is empty",
    "bad_received_at": "received_at is not an ISO 8601 timestamp with an offset",
    "received_at_out_of_range": "received_at is after the end of the file's day or before the outage's day (KST)",
    "bad_channel": "channel is not web, kakaotalk, phone or email",
    "bad_claimant_type": "claimant_type is not individual, small_business or enterprise",
    "unknown_service": "service is not a service_code of services.csv",
    "bad_boolean": "paid_service or monetary_loss is not true/false",
    "missing_amount": "monetary_loss is true but claimed_loss_krw is empty",
    "bad_amount": "claimed_loss_krw is not a whole number of won",
    "negative_amount": "claimed_loss_krw is negative",
    "amount_too_large": "claimed_loss_krw is over 1,000,000,000,000 won (MAX_AMOUNT_KRW)",
    "missing_business_reg_no": "a business claim without business_reg_no",
    "bad_business_reg_no": "business_reg_no is not 10 digits (hyphens optional)",
    "bad_check_digit": "business_reg_no fails its check digit",
    "no_claimant_key": "an individual claim with neither kakao_account_id nor a usable phone",
    "bad_bank_details": "bank_code must be 3 digits with an account_no of 6-20 digits (hyphens optional) and a"
    " claimant_name or account_holder to pay, or both empty",
}


@dataclass(frozen=True)
class Service:
    code: str
    name_ko: str
    operator: str
    kakao_corp: bool


def load_services(path: Path) -> dict[str, Service]:
    """The service catalogue; a `kakao_corp` other than true/false is an error, not a silent false."""
    services = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            flag = r["kakao_corp"].strip().lower()
            if flag not in _BOOLS:
                raise ValueError(
                    f"{path}: service {r['service_code']!r} has kakao_corp={r['kakao_corp']!r}, not true/false"
                )
            services[r["service_code"]] = Service(r["service_code"], r["service_name_ko"], r["operator"], _BOOLS[flag])
    return services


@dataclass
class ParsedDay:
    rows: list[dict] = field(default_factory=list)  # normalised, valid rows in file order
    quarantined: list[dict] = field(default_factory=list)  # {line_no, reason, detail, raw}
    rows_received: int = 0


class RowError(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or REASONS[reason]


def parse_timestamp(
    value: str, *, column: str = "received_at", earliest: dt.datetime = EARLIEST, end: dt.datetime = END
) -> str:
    """ISO 8601 with an offset, in [earliest, end), as sortable UTC text (microsecond precision).

    RowError `bad_{column}` when it is not such a timestamp, `{column}_out_of_range` when it is out of range
    (a date the offset pushes past year 1 or 9999 included: never an OverflowError).
    """
    text = value.strip()
    try:
        if not text.isascii():
            raise ValueError("not ASCII")
        ts = dt.datetime.fromisoformat(text)
    except ValueError:
        raise RowError(f"bad_{column}", f"{column} {value[:64]!r} is not ISO 8601") from None
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise RowError(f"bad_{column}", f"{column} {value[:64]!r} has no UTC offset")
    try:
        utc = ts.astimezone(_UTC)
    except OverflowError:  # the offset pushes it past year 1 or 9999
        raise RowError(f"{column}_out_of_range", f"{column} {text[:64]!r} is not a representable time") from None
    if earliest.tzinfo is not _UTC or end.tzinfo is not _UTC:  # compare in one zone: faster
        earliest, end = earliest.astimezone(_UTC), end.astimezone(_UTC)
    if utc < earliest:
        raise RowError(f"{column}_out_of_range", f"{column} {text[:64]!r} is before {earliest.isoformat()}")
    if utc >= end:
        raise RowError(f"{column}_out_of_range", f"{column} {text[:64]!r} is not before {end.isoformat()}")
    return _utc_text(utc)


def _utc_text(utc: dt.datetime) -> str:
    """A UTC time as the warehouse's sortable text (fixed width: text order is time order)."""
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@functools.lru_cache(maxsize=4096)
def _utc_hour(local_hour: str, offset: str) -> str | None:
    """`YYYY-MM-DDTHH` in UTC of a local hour (`YYYY-MM-DDTHH`) at a whole-hour offset; None when not a time."""
    try:
        return dt.datetime.fromisoformat(f"{local_hour}:00:00{offset}").astimezone(_UTC).isoformat()[:13]
    except (ValueError, OverflowError):
        return None


class _ReceivedAt:
    """parse_timestamp for received_at in [earliest, end), with a fast path for the usual form.

    A timestamp like `2022-10-16T09:12:44+09:00` differs from its UTC text only in its date and hour: those
    come from a cache by hour, and the range is checked on the text. Anything else (or out of range) goes
    through parse_timestamp, which gives the same text or the reason.
    """

    def __init__(self, received: tuple[dt.datetime, dt.datetime]):
        self.earliest, self.end = received[0].astimezone(_UTC), received[1].astimezone(_UTC)
        self.earliest_text, self.end_text = _utc_text(self.earliest), _utc_text(self.end)

    def __call__(self, value: str) -> str:
        if _HOURLY_TIMESTAMP.fullmatch(value):
            hour = _utc_hour(value[:13], value[19:])
            if hour is not None:
                text = f"{hour}{value[13:19]}.000000Z"
                if self.earliest_text <= text < self.end_text:
                    return text
        return parse_timestamp(value, earliest=self.earliest, end=self.end)


_BOUNDS: dict[tuple[int, tuple[str, ...]], tuple[dict[str, int], tuple[int, ...]]] = {}


def _bounds(limits: dict[str, int], names: tuple[str, ...]) -> tuple[int, ...]:
    """Each named field's limit, in order (cached: this runs for every row)."""
    cached = _BOUNDS.get((id(limits), names))
    if cached is None or cached[0] is not limits:
        cached = _BOUNDS[(id(limits), names)] = (limits, tuple(limits.get(name, sys.maxsize) for name in names))
    return cached[1]


def check_text_fields(values: dict[str, str], limits: dict[str, int], free_text: frozenset[str] = FREE_TEXT) -> None:
    """RowError `control_character` or `field_too_long` for the first field that breaks its bound.

    The detail names the column, the position or length and the code point, never the content.
    """
    names = tuple(values)
    _check_text(names, list(values.values()), _bounds(limits, names), free_text)


def _check_text(names: Sequence[str], values: Sequence[str], bounds: Sequence[int], free_text: frozenset[str]) -> None:
    """check_text_fields over the values of the named fields, in order, with each one's limit."""
    if _CONTROL.search("".join(values)):  # rare (a line break in a description): find the field
        for name, value in zip(names, values):
            found = (_CONTROL_IN_TEXT if name in free_text else _CONTROL).search(value)
            if found:
                raise RowError(
                    "control_character", f"{name} holds U+{ord(found.group()):04X} at character {found.start() + 1}"
                )
    if any(map(operator.gt, map(len, values), bounds)):  # rare: find the field
        for name, value, limit in zip(names, values, bounds):
            n = len(value if name in free_text else value.strip())
            if n > limit:
                raise RowError("field_too_long", f"{name} is {n} characters, more than {limit}")


def _flag(value: str, name: str) -> int:
    flag = _FLAGS.get(value)  # as written, most of the time
    if flag is not None:
        return flag
    try:
        return _FLAGS[value.strip().lower()]
    except KeyError:
        raise RowError("bad_boolean", f"{name} is {value!r}, not true/false") from None


def _amount(value: str) -> int:
    if value.isascii() and value.isdigit():  # plain digits, most of the time: what the checks below accept
        amount = int(value)
    else:
        text = value.strip()
        if not text:
            raise RowError("missing_amount")
        if _NEGATIVE.fullmatch(text):
            raise RowError("negative_amount", f"claimed_loss_krw is {text}")
        if not _WHOLE.fullmatch(text):
            raise RowError("bad_amount", f"claimed_loss_krw is {text[:40]!r}")
        amount = int(text)
    if amount > MAX_AMOUNT_KRW:
        raise RowError("amount_too_large", f"claimed_loss_krw is {amount}, more than {MAX_AMOUNT_KRW}")
    return amount


def received_range(day: dt.date | None = None, outage_date: dt.date | None = None) -> tuple[dt.datetime, dt.datetime]:
    """[start of the outage's day, end of the file's day) in KST (CONTRACT.md section 2), within the sane range."""
    earliest = EARLIEST if outage_date is None else max(EARLIEST, dt.datetime.combine(outage_date, dt.time(), KST))
    end = END if day is None else min(END, dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), KST))
    return earliest.astimezone(_UTC), end.astimezone(_UTC)


def normalise_row(
    values: dict[str, str], services: dict[str, Service], *, received: tuple[dt.datetime, dt.datetime] | None = None
) -> dict:
    """One raw claim row (strings) to a normalised claim, or RowError with the first problem found.

    `received` is the range received_at must fall in (`received_range`); by default the sane range only.
    """
    check_text_fields(values, FIELD_LIMITS)
    fields = [values[name] for name in CLAIM_COLUMNS]
    return _claim_dict(_claim_values(fields, services, _ReceivedAt(received or _SANE)))


def _file_size(path: Path) -> int:
    """The file's size, or 0 when it cannot be read as a regular file (the reader then says why)."""
    try:
        return os.stat(path, follow_symlinks=False).st_size
    except OSError:
        return 0


def _claim_dict(values: tuple) -> dict:
    """_claim_values as normalise_row's dict (its flags as booleans)."""
    row = dict(zip(CLAIM_VALUE_COLUMNS, values))
    for flag in _FLAG_COLUMNS:
        row[flag] = bool(row[flag])
    return row


def _claim_values(fields: Sequence[str], services: dict[str, Service], received_at: Callable[[str], str]) -> tuple:
    """normalise_row after the text checks, over the fields in CLAIM_COLUMNS order: the values in
    CLAIM_VALUE_COLUMNS order (no dict per row: staging's bulk path). `received_at` is a `_ReceivedAt`."""
    (
        receipt_no,
        received,
        channel,
        claimant_type,
        name,
        kakao_account_id,
        phone_as_written,
        business_reg_no,
        service_code,
        paid,
        monetary,
        loss,
        bank_code,
        account_no,
        holder,
        description,
    ) = fields
    receipt_no = receipt_no.strip()
    if not receipt_no:
        raise RowError("missing_receipt_no")
    received_utc = received_at(received)
    channel_name = channel.strip().lower()
    if channel_name not in CHANNELS:
        raise RowError("bad_channel", f"channel is {channel[:40]!r}")
    claimant = claimant_type.strip().lower()
    if claimant not in CLAIMANT_TYPES:
        raise RowError("bad_claimant_type", f"claimant_type is {claimant_type[:40]!r}")
    service = services.get(service_code.strip())
    if service is None:
        raise RowError("unknown_service", f"service {service_code[:40]!r} is not in services.csv")
    paid_service = _flag(paid, "paid_service")
    monetary_loss = _flag(monetary, "monetary_loss")
    claimed_loss = _amount(loss) if monetary_loss else None

    brn = None
    if claimant in BUSINESS_TYPES:
        brn, reason = normalise_brn(business_reg_no)
        if reason:
            raise RowError(reason)
        key = brn
    account_id = kakao_account_id.strip() or None
    phone = normalise_phone(phone_as_written) if phone_as_written.strip() else None
    if claimant == "individual":
        key = account_id or phone
        if key is None:
            raise RowError("no_claimant_key")

    bank_code = bank_code.strip()
    account_no = account_no.strip()
    name = name.strip()
    holder = holder.strip()
    if bank_code or account_no:
        if not (_BANK_CODE.fullmatch(bank_code) and _ACCOUNT.fullmatch(account_no)):
            raise RowError("bad_bank_details")
        account_no = account_no.replace("-", "")
        low, high = ACCOUNT_DIGITS
        if not low <= len(account_no) <= high:
            raise RowError("bad_bank_details", f"account_no has {len(account_no)} digits, not {low}-{high}")
        if not (name or holder):
            raise RowError("bad_bank_details", "bank details without a claimant_name or account_holder to pay")
    return (
        receipt_no,
        received_utc,
        channel_name,
        claimant,
        key,
        name,
        account_id,
        phone,
        brn,
        service.code,
        service.operator,
        int(service.kakao_corp),
        paid_service,
        monetary_loss,
        claimed_loss,
        bank_code or None,
        account_no or None,
        holder or None,
        description,
    )


def iter_claims(
    path: Path, services: dict[str, Service], *, day: dt.date | None = None, outage_date: dt.date | None = None
) -> Iterator[tuple[dict | None, dict | None]]:
    """Stream one `claims_YYYYMMDD.csv`: for each record, (the normalised row, None) or (None, its quarantine).

    With `day` (the file's day) and `outage_date`, a received_at after the end of `day` or before the
    start of `outage_date` (KST) is `received_at_out_of_range` (CONTRACT.md section 2). Memory follows one
    record, not the file. Raises MalformedFileError when the file itself is unusable (missing, not a
    regular file, no or a wrong header, empty, unreadable); its message names the file, the line and
    columns, never a value.
    """
    for line_no, values, bad in iter_claim_values(path, services, day=day, outage_date=outage_date):
        if values is None:
            yield None, bad
        else:
            row = _claim_dict(values)
            row["line_no"] = line_no
            yield row, None


VECTORS_FROM_BYTES = 8 << 20  # a claims file this large pays for loading Arrow's compute library (see below)
_SLICE_ROWS = 4096  # claims turned from Arrow into Python values at a time: memory follows this, not the window


def iter_claim_values(
    path: Path,
    services: dict[str, Service],
    *,
    day: dt.date | None = None,
    outage_date: dt.date | None = None,
    vectorised: bool | None = None,
    window_bytes: int = WINDOW_BYTES,
) -> Generator[tuple[int, tuple | None, dict | None], None, None]:
    """iter_claims in staging's form: (line_no, the values in CLAIM_VALUE_COLUMNS order, None), or
    (line_no, None, the quarantine row). The same checks, in the same order, without a dict per row.

    The file is read in windows of up to `window_bytes` (io/csvblocks.py): its well-formed records split by
    Arrow, those in canonical form checked as vectors (`blocks.canonical_values`), every other record read and
    checked one at a time. `vectorised=False` reads and checks every record one at a time: the reference the
    fast path is tested against. By default (None) a small file is read so too when Arrow's compute library is
    not yet loaded in the process: loading it costs more than the vectors save on fewer than ~50,000 claims."""
    if not os.path.lexists(path):
        raise MalformedFileError(path, "does not exist: the intake has not delivered this day")
    received_at = _ReceivedAt(received_range(day, outage_date))
    names = tuple(CLAIM_COLUMNS)
    bounds = _bounds(FIELD_LIMITS, names)

    def one(rec: Record) -> tuple[int, tuple | None, dict | None]:
        fields = rec.fields
        if rec.error or fields is None:
            reason = rec.error or "bad_quoting"
            return (
                rec.line_no,
                None,
                {"line_no": rec.line_no, "reason": reason, "detail": REASONS[reason], "raw": rec.raw},
            )
        try:
            _check_text(names, fields, bounds, FREE_TEXT)
            return rec.line_no, _claim_values(fields, services, received_at), None
        except RowError as err:
            return (
                rec.line_no,
                None,
                {"line_no": rec.line_no, "reason": err.reason, "detail": err.detail, "raw": rec.raw},
            )

    if vectorised is None:
        vectorised = "pyarrow.compute" in sys.modules or _file_size(path) >= VECTORS_FROM_BYTES
    if not vectorised:
        yield from map(one, read_records(path, CLAIM_COLUMNS))
        return
    for window in read_windows(path, CLAIM_COLUMNS, window_bytes):
        others = iter(window.others)
        other = next(others, None)
        canonical = canonical_values(window.table(CLAIM_COLUMNS), services, received_at) if window.line_nos else None
        for start in range(0, len(window.line_nos), _SLICE_ROWS):
            assert canonical is not None
            fast = canonical.values(start, start + _SLICE_ROWS)
            for i, (line_no, values) in enumerate(zip(window.line_nos[start : start + _SLICE_ROWS], fast), start):
                while other is not None and other.line_no < line_no:
                    yield one(other)
                    other = next(others, None)
                yield (line_no, values, None) if values is not None else one(window.record_at(i))
        while other is not None:
            yield one(other)
            other = next(others, None)


def parse_claims_file(
    path: Path, services: dict[str, Service], *, day: dt.date | None = None, outage_date: dt.date | None = None
) -> ParsedDay:
    """All of one claims file at once (tests, small files): see iter_claims, which staging streams."""
    parsed = ParsedDay()
    for row, quarantined in iter_claims(path, services, day=day, outage_date=outage_date):
        parsed.rows_received += 1
        if row is not None:
            parsed.rows.append(row)
        elif quarantined is not None:
            parsed.quarantined.append(quarantined)
    return parsed
