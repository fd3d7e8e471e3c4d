"""The contract with the systems around us (CONTRACT.md), stated once: file names, columns, codes.

Publish writes these, `relief verify` checks them and the Great Expectations suites take their allowed
values from them, so a change here (or to the program's tiers) reaches all three at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Final, Protocol


class _Tier(Protocol):
    @property
    def basis(self) -> str: ...


class Program(Protocol):
    """What the contract reads of a program (`etl.core.config.Program`): the contract imports nothing of the
    config, whose schema takes its columns and codes from here."""

    @property
    def tiers(self) -> Sequence[_Tier]: ...

    @property
    def payment_prefix(self) -> str: ...


# --- inbox -------------------------------------------------------------------------------------
INBOX_KINDS: Final = ("claims", "decisions", "returns")


def inbox_file_name(kind: str, day: dt.date) -> str:
    """`claims_YYYYMMDD.csv`, `decisions_YYYYMMDD.csv` or `returns_YYYYMMDD.csv` of a day."""
    return f"{kind}_{day:%Y%m%d}.csv"


CLAIM_COLUMNS: Final = [
    "receipt_no", "received_at", "channel", "claimant_type", "claimant_name", "kakao_account_id",
    "phone", "business_reg_no", "service", "paid_service", "monetary_loss", "claimed_loss_krw",
    "bank_code", "account_no", "account_holder", "description",
]  # fmt: skip
DECISION_COLUMNS: Final = ["claimant_key", "decision", "approved_amount_krw", "decided_by", "decided_at"]
RETURN_COLUMNS: Final = ["payment_id", "status", "reason"]
CLAIMANT_TYPES: Final = ("individual", "small_business", "enterprise")
DAMAGE: Final = ("paid_service", "free_monetary", "non_monetary")

# --- outbox ------------------------------------------------------------------------------------
MANIFEST: Final = "manifest.json"
PAYMENTS: Final = "payments"
REVIEWS: Final = "reviews"
EXCLUSIONS: Final = "exclusions"
QUARANTINE: Final = "quarantine"
REPORTS: Final = "reports"
DAYS: Final = "days"  # days/DAY/manifest.json: written last, names every folder's manifest of the day

PAYMENTS_CSV: Final = "payments.csv"
PAYMENT_COLUMNS: Final = [
    "payment_id", "claimant_key", "business_reg_no", "payee_name", "bank_code", "account_no",
    "account_holder", "amount_krw", "basis", "run_date",
]  # fmt: skip
REVIEW_BASIS: Final = "review_approved"
TOP_UP_BASIS: Final = "top_up"
# The bank's bulk-transfer sheet (payments/DAY/bulk_transfer.xlsx): its columns are the program's ([bank]);
# a column shows a payments.csv column or one of the passbook texts; only the amount may be a number.
BULK_TRANSFER_XLSX: Final = "bulk_transfer.xlsx"
BULK_TEXT_FIELDS: Final = ("payee_text", "payer_text")
BULK_NUMBER_FIELDS: Final = frozenset({"amount_krw"})
BULK_REQUIRED_FIELDS: Final = frozenset({"bank_code", "account_no", "amount_krw"})

AFFILIATE_CSV: Final = "affiliate_claims.csv"
AFFILIATE_COLUMNS: Final = [
    "operator", "service", "receipt_no", "received_at", "channel", "claimant_type", "claimant_key",
    "claimant_name", "paid_service", "monetary_loss", "claimed_loss_krw", "description",
]  # fmt: skip
REJECTED_CSV: Final = "rejected_rows.csv"
REJECTED_COLUMNS: Final = ["source_file", "line_no", "reason", "detail", "raw_row"]
REVIEW_QUEUE_CSV: Final = "review_queue.csv"
REVIEW_QUEUE_COLUMNS: Final = [
    "claimant_key", "business_reg_no", "business_name", "loss_krw", "surviving_claims", "services",
    "receipt_nos", "already_paid_krw", "has_bank_details", "pending_since", "proof_required", "hold",
]  # fmt: skip
DECISION_ERRORS_CSV: Final = "decisions_errors.csv"
DECISION_ERROR_COLUMNS: Final = ["line_no", "claimant_key", "reason", "detail", "raw_row"]
HOLDS_CSV: Final = "holds.csv"
HOLDS_COLUMNS: Final = [
    "claimant_key", "business_reg_no", "business_name", "reason", "detail", "loss_krw", "entitlement_krw",
    "already_paid_krw", "held_on",
]  # fmt: skip
OVER_CAP_CSV: Final = "over_cap.csv"
OVER_CAP_COLUMNS: Final = ["claimant_key", "business_reg_no", "amount_krw", "cap_krw", "basis", "how_to_release"]
SUMMARY_JSON: Final = "summary.json"
RECONCILIATION_JSON: Final = "reconciliation.json"
RETURN_ERRORS_CSV: Final = "returns_errors.csv"
RETURN_ERROR_COLUMNS: Final = ["line_no", "payment_id", "reason", "raw_row"]
PAYMENT_ID_MAX_LENGTH: Final = 35  # ISO 20022 EndToEndId


def basis_codes(program: Program) -> tuple[str, ...]:
    """Every `basis` a payment may carry: one per tier of the program, a council approval, a top-up."""
    return (*(tier.basis for tier in program.tiers), REVIEW_BASIS, TOP_UP_BASIS)


def payment_id_pattern(program: Program, compact_day: str) -> str:
    """The regular expression a day's payment ids match (`P1015-20221016-0000001`)."""
    return rf"^{program.payment_prefix}-{compact_day}-\d{{7}}$"
