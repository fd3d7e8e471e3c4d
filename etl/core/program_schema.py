"""The program config's schema: strict pydantic models of every table (imported only by `load_program`).

pydantic takes ~0.15 s to import, so this module is loaded when a config is validated, never by importing
`etl.core.config` (a DAG file, `relief --help`). Unknown keys are errors (`extra="forbid"`), types are strict,
and cross-field rules raise TableProblems naming each problem by its path in the table.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

PAYMENT_ID_SUFFIX = "-YYYYMMDD-NNNNNNN"  # payment_id = PREFIX-YYYYMMDD-NNNNNNN, at most 35 characters


class TableProblems(ValueError):
    """Cross-field problems of one table: (path relative to the table, what is wrong) each."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{where} {what}".strip() for where, what in problems))
        self.problems = problems


class Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ProgramTable(Table):
    code: str = Field(min_length=1)
    payment_prefix: str
    timezone: str
    outage_date: dt.date
    services_file: str = Field(min_length=1)  # relative to the file that names it (made absolute on read)

    @field_validator("payment_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        longest = 35 - len(PAYMENT_ID_SUFFIX)
        if not (value.isascii() and value.isalnum()) or len(value) > longest:
            raise ValueError(
                f"must be alphanumeric and keep payment_id within 35 characters (at most {longest}), got {value!r}"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"must be an IANA time zone such as Asia/Seoul, got {value!r}") from None
        return value

    @field_validator("services_file")
    @classmethod
    def _services(cls, value: str) -> str:
        if not Path(value).is_file():
            raise ValueError(f"names {value}, which does not exist")
        return value


class Intake(Table):
    first_day: dt.date
    last_day: dt.date

    @model_validator(mode="after")
    def _window(self) -> Intake:
        if self.last_day < self.first_day:
            raise TableProblems([("last_day", f"({self.last_day}) is before intake.first_day ({self.first_day})")])
        return self


class Settlement(Table):
    close_date: dt.date


class TierTable(Table):
    max_loss_krw: PositiveInt
    support_krw: PositiveInt
    basis: str = Field(min_length=1)


class Cash(Table):
    review_threshold_krw: PositiveInt
    tiers: list[TierTable] = Field(min_length=1)
    max_payment_krw: PositiveInt  # the largest single payment a batch may carry
    max_businesses_per_account: PositiveInt  # fraud hold

    @model_validator(mode="after")
    def _rules(self) -> Cash:
        problems = []
        for i, (lower, upper) in enumerate(zip(self.tiers, self.tiers[1:]), start=1):
            if upper.max_loss_krw <= lower.max_loss_krw or upper.support_krw < lower.support_krw:
                problems.append(
                    (
                        f"tiers[{i}]",
                        f"must rise: max_loss_krw above {lower.max_loss_krw} and support_krw not below"
                        f" {lower.support_krw} (the tier before), got {upper.max_loss_krw} and {upper.support_krw}",
                    )
                )
        last = self.tiers[-1].max_loss_krw
        if self.review_threshold_krw != last:
            problems.append(
                (
                    "review_threshold_krw",
                    f"({self.review_threshold_krw}) must equal the last tier's max_loss_krw ({last}):"
                    " a loss is either in a tier or under review",
                )
            )
        if problems:
            raise TableProblems(problems)
        return self


class Debtor(Table):  # the paying account: the debtor of every pain.001 payment file
    name: str = Field(min_length=1)
    account: str = Field(min_length=1)
    bank_code: str | None = None
    bic: str | None = None
    org_id: str | None = None

    @model_validator(mode="after")
    def _bank(self) -> Debtor:
        if not (self.bank_code or self.bic):
            raise TableProblems([("", "needs a bank_code or a bic: the bank must know which bank debits")])
        return self


class Bank(Table):  # the paying bank's passbook texts and bulk-transfer sheet (etl/payments/banking.py)
    passbook_max_chars: PositiveInt
    payee_texts: dict[str, str] = Field(min_length=1)
    bulk_transfer_columns: list[Annotated[list[str], Field(min_length=2, max_length=2)]] = Field(min_length=1)
    bulk_transfer_number_fields: list[str]

    @model_validator(mode="after")
    def _sheet(self) -> Bank:
        from etl.core.contract import BULK_NUMBER_FIELDS, BULK_REQUIRED_FIELDS, BULK_TEXT_FIELDS, PAYMENT_COLUMNS

        problems = []
        for basis, text in self.payee_texts.items():
            if not text.strip():
                problems.append((f"payee_texts.{basis}", "must not be blank"))
            elif len(text) > self.passbook_max_chars:
                problems.append(
                    (f"payee_texts.{basis}", f"({text}) is {len(text)} characters, over passbook_max_chars")
                )
        known = set(PAYMENT_COLUMNS) | set(BULK_TEXT_FIELDS)
        headers = [header for header, _ in self.bulk_transfer_columns]
        fields = [field for _, field in self.bulk_transfer_columns]
        for i, (header, field) in enumerate(self.bulk_transfer_columns):
            if not header.strip():
                problems.append((f"bulk_transfer_columns[{i}]", "has a blank header"))
            if field not in known:
                problems.append(
                    (
                        f"bulk_transfer_columns[{i}]",
                        f"field {field!r} is neither a payments.csv column nor payee_text/payer_text",
                    )
                )
        if len(set(headers)) < len(headers):
            problems.append(("bulk_transfer_columns", "repeats a header"))
        missing = sorted(BULK_REQUIRED_FIELDS - set(fields))
        if missing:
            problems.append(("bulk_transfer_columns", f"must carry {', '.join(missing)}: a transfer needs them"))
        wrong = sorted(set(self.bulk_transfer_number_fields) - BULK_NUMBER_FIELDS)
        if wrong:
            problems.append(
                (
                    "bulk_transfer_number_fields",
                    f"may hold only amount_krw, not {', '.join(wrong)}: as numbers, codes and accounts lose"
                    " their leading zeros",
                )
            )
        if problems:
            raise TableProblems(problems)
        return self


class Approval(Table):
    auto_approve_payments: bool  # required: a missing key is an error, never an implied true
    approvers: list[str] = Field(default_factory=list)
    reason_required_on_reject: bool = True

    @model_validator(mode="after")
    def _someone(self) -> Approval:
        problems = [(f"approvers[{i}]", "must not be blank") for i, a in enumerate(self.approvers) if not a.strip()]
        if not self.auto_approve_payments and not self.approvers:
            problems.append(("approvers", "must name an Airflow user when auto_approve_payments is false"))
        if problems:
            raise TableProblems(problems)
        return self


class ItemTable(Table):
    code: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    name: str = Field(min_length=1)
    unit_value_krw: PositiveInt
    valid_from: dt.date
    valid_to: dt.date | None  # "" in the file: permanent (TOML has no null); required all the same

    @field_validator("valid_to", mode="before")
    @classmethod
    def _permanent(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _validity(self) -> ItemTable:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise TableProblems([("valid_to", f"({self.valid_to}) is before valid_from ({self.valid_from})")])
        return self


class BundleTable(Table):
    code: str = Field(min_length=1)
    items: list[str] = Field(min_length=1)


class Rollout(Table):
    date: dt.date
    eligible_joined_on_or_before: dt.date
    talk_drawer_cap: PositiveInt
    kakaotalk_users: PositiveInt
    items: list[ItemTable] = Field(min_length=1)
    bundles: list[BundleTable] = Field(min_length=1)

    @model_validator(mode="after")
    def _rules(self) -> Rollout:
        problems = []
        for what, rows in (("items", self.items), ("bundles", self.bundles)):
            codes = [r.code for r in rows]
            problems += [
                (f"{what}[{i}].code", f"repeats {code!r}: codes must be unique")
                for i, code in enumerate(codes)
                if code in codes[:i]
            ]
        known = {i.code for i in self.items}
        for i, bundle in enumerate(self.bundles):
            unknown = [m for m in bundle.items if m not in known]
            if unknown:
                problems.append((f"bundles[{i}].items", f"names unknown items: {', '.join(unknown)}"))
        missing = {"relief_base", "relief_base_td"} - {b.code for b in self.bundles}
        if missing:
            problems.append(
                ("bundles", f"must define relief_base and relief_base_td (CONTRACT.md); missing {sorted(missing)}")
            )
        if problems:
            raise TableProblems(problems)
        return self


class Reference(Table):  # the figures PROGRAM.md reports; `relief report` prints the run beside them
    claims: dict[str, int] = Field(default_factory=dict)


class Document(Table):
    program: ProgramTable
    intake: Intake
    settlement: Settlement
    cash: Cash
    debtor: Debtor
    bank: Bank
    approval: Approval
    rollout: Rollout
    reference: Reference = Field(default_factory=Reference)

    @model_validator(mode="after")
    def _life(self) -> Document:
        """The program's life in order: outage, intake window, settlement period up to the close."""
        problems = []
        if self.intake.first_day < self.program.outage_date:
            problems.append(("intake.first_day", f"({self.intake.first_day}) is before program.outage_date"))
        if self.settlement.close_date <= self.intake.last_day:
            close = self.settlement.close_date
            problems.append(("settlement.close_date", f"({close}) must be after intake.last_day"))
        if problems:
            raise TableProblems(problems)
        return self

    @model_validator(mode="after")
    def _a_text_for_every_basis(self) -> Document:
        """Every basis the program pays shows a passbook text: a tier added without one is a config error."""
        from etl.core.contract import REVIEW_BASIS, TOP_UP_BASIS

        paid_bases = [tier.basis for tier in self.cash.tiers] + [REVIEW_BASIS, TOP_UP_BASIS]
        missing = [basis for basis in paid_bases if basis not in self.bank.payee_texts]
        if missing:
            raise TableProblems([("bank.payee_texts", f"needs a passbook text for {', '.join(missing)}")])
        return self
