"""Entitlements and the payments they call for: pure functions over claim rows, no I/O.

A business's loss is the sum of its surviving Kakao Corp claims with a monetary loss; the tier is
applied to that sum once. A run pays the difference between what a business is entitled to now
and what it was paid before, never less than zero: nothing is paid twice and nothing is clawed back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from etl.core.config import Program


@dataclass(frozen=True)
class Decision:
    decision: str  # approved | rejected
    approved_amount_krw: int | None
    decided_at: str


@dataclass(frozen=True)
class BusinessState:
    claimant_key: str
    business_reg_no: str | None
    claimant_name: str | None
    loss_krw: int
    surviving_claims: int
    services: str
    receipts: str  # the receipt_nos counted in the loss: the evidence a reviewer looks up
    status: str  # tier | review_pending | review_approved | review_rejected | held | no_loss
    basis: str | None  # the payment basis a payment for this entitlement carries
    entitlement_krw: int
    bank: dict | None  # {bank_code, account_no, account_holder} from the latest counted claim with them


@dataclass(frozen=True)
class PaymentDue:
    claimant_key: str
    business_reg_no: str
    payee_name: str | None
    bank_code: str
    account_no: str
    account_holder: str | None
    amount_krw: int
    basis: str


def _claim_order(claim: Mapping) -> tuple[str, str]:
    return (claim["received_at"], claim["receipt_no"])


def surviving_claims(claims: Iterable[Mapping]) -> list[Mapping]:
    """The latest claim per (claimant, service): a resubmission supersedes the earlier report.

    Latest by received_at, ties broken by the greater receipt_no (CONTRACT.md).
    """
    best: dict[tuple[str, str], Mapping] = {}
    for claim in claims:
        key = (claim["claimant_key"], claim["service"])
        if key not in best or _claim_order(claim) > _claim_order(best[key]):
            best[key] = claim
    return sorted(best.values(), key=_claim_order)


def counted_claims(surviving: Iterable[Mapping]) -> list[Mapping]:
    """The surviving claims that count toward a small business's loss."""
    return [c for c in surviving if c["claimant_type"] == "small_business" and c["kakao_corp"] and c["monetary_loss"]]


def latest_bank_details(
    claims: Iterable[Mapping], returned_accounts: frozenset[tuple[str, str]] = frozenset()
) -> Mapping | None:
    """The claim carrying the business's bank details: the most recent it gave (CONTRACT.md section 2).

    Any of its small-business claims on Kakao Corp services counts, a superseded resubmission included
    (a later claim without bank details does not erase earlier ones); details the bank returned a
    payment to are never used again.
    """
    candidates = [
        c
        for c in claims
        if c["claimant_type"] == "small_business"
        and c["kakao_corp"]
        and c["bank_code"]
        and c["account_no"]
        and (c["bank_code"], c["account_no"]) not in returned_accounts
    ]
    return max(candidates, key=_claim_order) if candidates else None


def business_state(
    claimant_key: str,
    claims: Iterable[Mapping],
    decision: Decision | None,
    program: Program,
    hold: str | None = None,
    returned_accounts: frozenset[tuple[str, str]] = frozenset(),
) -> BusinessState:
    """One business's loss, tier or review status, and entitlement as of a day.

    `hold` (a fraud check's reason) puts the business under review until the council decides;
    bank details the bank has returned a payment to are not used again.
    """
    own = [c for c in claims if c["claimant_key"] == claimant_key]
    counted = counted_claims(surviving_claims(own))
    loss = sum(int(c["claimed_loss_krw"] or 0) for c in counted)
    latest = max(counted, key=_claim_order) if counted else None
    bank_claim = latest_bank_details(own, returned_accounts)
    bank = (
        {
            "bank_code": bank_claim["bank_code"],
            "account_no": bank_claim["account_no"],
            "account_holder": bank_claim["account_holder"],
        }
        if bank_claim
        else None
    )

    basis = None
    if loss <= 0:
        status, entitlement = "no_loss", 0
    elif hold and decision is None:
        tier = program.tier_for(loss)
        status, entitlement = "held", tier.support_krw if tier else 0
    elif loss > program.review_threshold_krw or hold:
        if decision is None:
            status, entitlement = "review_pending", 0
        elif decision.decision == "approved":
            status, entitlement, basis = "review_approved", int(decision.approved_amount_krw or 0), "review_approved"
        else:
            status, entitlement = "review_rejected", 0
    else:
        tier = program.tier_for(loss)
        assert tier is not None  # 0 < loss <= the review threshold: the tiers cover it (checked at load)
        status, entitlement, basis = "tier", tier.support_krw, tier.basis

    return BusinessState(
        claimant_key=claimant_key,
        business_reg_no=latest["business_reg_no"] if latest else None,
        claimant_name=(bank_claim or latest)["claimant_name"] if latest else None,
        loss_krw=loss,
        surviving_claims=len(counted),
        services=",".join(sorted({c["service"] for c in counted})),
        receipts=",".join(c["receipt_no"] for c in counted),
        status=status,
        basis=basis,
        entitlement_krw=entitlement,
        bank=bank,
    )


def payment_due(state: BusinessState, paid_before_krw: int) -> PaymentDue | None:
    """What to pay now: the entitlement less what was paid before, when positive and payable.

    A business already paid more than its entitlement (a lower resubmission) gets nothing and
    keeps what it has. Without bank details nothing is paid yet: the amount stays owed.
    """
    due = state.entitlement_krw - paid_before_krw
    if due <= 0 or state.bank is None or state.business_reg_no is None or state.basis is None:
        return None  # nothing owed, no bank details yet, or held / under review (no basis to pay on)
    basis = state.basis
    if basis != "review_approved" and paid_before_krw > 0:
        basis = "top_up"
    return PaymentDue(
        claimant_key=state.claimant_key,
        business_reg_no=state.business_reg_no,
        payee_name=state.claimant_name,
        bank_code=state.bank["bank_code"],
        account_no=state.bank["account_no"],
        account_holder=state.bank["account_holder"],
        amount_krw=due,
        basis=basis,
    )


def group_by_claimant(claims: Iterable[Mapping]) -> dict[str, list[Mapping]]:
    grouped: dict[str, list[Mapping]] = defaultdict(list)
    for c in claims:
        grouped[c["claimant_key"]].append(c)
    return grouped


def payment_id(prefix: str, run_date_compact: str, seq: int) -> str:
    """Deterministic and unique: the day and the rank of the business's key among that day's payments."""
    pid = f"{prefix}-{run_date_compact}-{seq:07d}"
    if len(pid) > 35:
        raise ValueError(f"payment_id {pid} exceeds 35 characters (ISO 20022 EndToEndId)")
    return pid
