"""Claims: read a day's intake file, normalise each row, and give every bad row a reason.

Pure functions over rows (dicts): no database, no Airflow. The pipeline stores what they return.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from etl.io.csvfile import MalformedFileError, read_records
from etl.claims.identifiers import normalise_brn, normalise_phone

CLAIM_COLUMNS = [
    "receipt_no", "received_at", "channel", "claimant_type", "claimant_name", "kakao_account_id",
    "phone", "business_reg_no", "service", "paid_service", "monetary_loss", "claimed_loss_krw",
    "bank_code", "account_no", "account_holder", "description",
]
CHANNELS = {"web", "kakaotalk", "phone", "email"}
CLAIMANT_TYPES = ("individual", "small_business", "enterprise")
BUSINESS_TYPES = {"small_business", "enterprise"}
_BOOLS = {"true": True, "false": False}
_ACCOUNT = re.compile(r"^[0-9][0-9-]*[0-9]$")
_NEGATIVE = re.compile(r"-[0-9]+")
_WHOLE = re.compile(r"\+?[0-9]+")
_BANK_CODE = re.compile(r"[0-9]{3}")
_UTC = dt.timezone.utc

# Every reason a row can be quarantined for, in the order the checks run (README documents them).
REASONS = {
    "invalid_utf8": "the row holds bytes that are not UTF-8",
    "bad_quoting": "the row's quoting is broken (RFC 4180)",
    "wrong_field_count": "the row does not have the header's 16 fields",
    "missing_receipt_no": "receipt_no is empty",
    "bad_received_at": "received_at is not an ISO 8601 timestamp with an offset",
    "bad_channel": "channel is not web, kakaotalk, phone or email",
    "bad_claimant_type": "claimant_type is not individual, small_business or enterprise",
    "unknown_service": "service is not a service_code of services.csv",
    "bad_boolean": "paid_service or monetary_loss is not true/false",
    "missing_amount": "monetary_loss is true but claimed_loss_krw is empty",
    "bad_amount": "claimed_loss_krw is not a whole number of won",
    "negative_amount": "claimed_loss_krw is negative",
    "missing_business_reg_no": "a business claim without business_reg_no",
    "bad_business_reg_no": "business_reg_no is not 10 digits (hyphens optional)",
    "bad_check_digit": "business_reg_no fails its check digit",
    "no_claimant_key": "an individual claim with neither kakao_account_id nor a usable phone",
    "bad_bank_details": "bank_code must be 3 digits with an account_no of digits and hyphens, or both empty",
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
                raise ValueError(f"{path}: service {r['service_code']!r} has kakao_corp={r['kakao_corp']!r}, not true/false")
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


def parse_timestamp(value: str) -> str:
    """ISO 8601 with an offset, as sortable UTC text (microsecond precision)."""
    try:
        ts = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise RowError("bad_received_at", f"received_at {value!r} is not ISO 8601") from None
    if ts.tzinfo is None:
        raise RowError("bad_received_at", f"received_at {value!r} has no UTC offset")
    return ts.astimezone(_UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _bool(value: str, name: str) -> bool:
    try:
        return _BOOLS[value.strip().lower()]
    except KeyError:
        raise RowError("bad_boolean", f"{name} is {value!r}, not true/false") from None


def _amount(value: str) -> int:
    text = value.strip()
    if not text:
        raise RowError("missing_amount")
    if _NEGATIVE.fullmatch(text):
        raise RowError("negative_amount", f"claimed_loss_krw is {text}")
    if not _WHOLE.fullmatch(text):
        raise RowError("bad_amount", f"claimed_loss_krw is {text[:40]!r}")
    return int(text)


def normalise_row(values: dict[str, str], services: dict[str, Service]) -> dict:
    """One raw claim row (strings) to a normalised claim, or RowError with the first problem found."""
    receipt_no = values["receipt_no"].strip()
    if not receipt_no:
        raise RowError("missing_receipt_no")
    received_at = parse_timestamp(values["received_at"])
    channel = values["channel"].strip().lower()
    if channel not in CHANNELS:
        raise RowError("bad_channel", f"channel is {values['channel'][:40]!r}")
    claimant_type = values["claimant_type"].strip().lower()
    if claimant_type not in CLAIMANT_TYPES:
        raise RowError("bad_claimant_type", f"claimant_type is {values['claimant_type'][:40]!r}")
    service = services.get(values["service"].strip())
    if service is None:
        raise RowError("unknown_service", f"service {values['service'][:40]!r} is not in services.csv")
    paid_service = _bool(values["paid_service"], "paid_service")
    monetary_loss = _bool(values["monetary_loss"], "monetary_loss")
    claimed_loss = _amount(values["claimed_loss_krw"]) if monetary_loss else None

    brn = None
    if claimant_type in BUSINESS_TYPES:
        brn, reason = normalise_brn(values["business_reg_no"])
        if reason:
            raise RowError(reason)
        key = brn
    account_id = values["kakao_account_id"].strip() or None
    phone = normalise_phone(values["phone"]) if values["phone"].strip() else None
    if claimant_type == "individual":
        key = account_id or phone
        if key is None:
            raise RowError("no_claimant_key")

    bank_code = values["bank_code"].strip()
    account_no = values["account_no"].strip()
    if bank_code or account_no:
        if not (_BANK_CODE.fullmatch(bank_code) and _ACCOUNT.fullmatch(account_no)):
            raise RowError("bad_bank_details")
        account_no = account_no.replace("-", "")
    return {
        "receipt_no": receipt_no,
        "received_at": received_at,
        "channel": channel,
        "claimant_type": claimant_type,
        "claimant_key": key,
        "claimant_name": values["claimant_name"].strip(),
        "kakao_account_id": account_id,
        "phone": phone,
        "business_reg_no": brn,
        "service": service.code,
        "operator": service.operator,
        "kakao_corp": service.kakao_corp,
        "paid_service": paid_service,
        "monetary_loss": monetary_loss,
        "claimed_loss_krw": claimed_loss,
        "bank_code": bank_code or None,
        "account_no": account_no or None,
        "account_holder": values["account_holder"].strip() or None,
        "description": values["description"],
    }


def parse_claims_file(path: Path, services: dict[str, Service]) -> ParsedDay:
    """Read one `claims_YYYYMMDD.csv`: valid rows normalised, bad rows quarantined with a reason.

    Raises MalformedFileError when the file itself is unusable (missing header, empty, unreadable).
    """
    if not path.exists():
        raise MalformedFileError(path, "does not exist: the intake has not delivered this day")
    day = ParsedDay()
    for rec in read_records(path, CLAIM_COLUMNS):
        day.rows_received += 1
        if rec.error:
            day.quarantined.append(
                {"line_no": rec.line_no, "reason": rec.error, "detail": REASONS[rec.error], "raw": rec.raw}
            )
            continue
        try:
            row = normalise_row(dict(zip(CLAIM_COLUMNS, rec.fields)), services)
        except RowError as err:
            day.quarantined.append({"line_no": rec.line_no, "reason": err.reason, "detail": err.detail, "raw": rec.raw})
            continue
        row["line_no"] = rec.line_no
        day.rows.append(row)
    return day


def damage_category(row: dict) -> str:
    """CONTRACT.md: paid_service, else free_monetary when a monetary loss is claimed, else non_monetary."""
    if row["paid_service"]:
        return "paid_service"
    if row["monetary_loss"]:
        return "free_monetary"
    return "non_monetary"
