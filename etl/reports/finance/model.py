"""The finance report's shape: its constants and TypedDicts (plain dicts at run time, JSON as they are)."""

from __future__ import annotations

from typing import TypedDict

AGE_BUCKETS = (("0-7 days", 0, 7), ("8-30 days", 8, 30), (">30 days", 31, None))  # days since issue
MONEY_PARTS = ("issued", "settled", "returned", "outstanding", "net")
CHARTS = ("loss_distribution", "payments_per_day", "cumulative_net", "intake_per_day")
CHART_TITLES = {
    "loss_distribution": "Claimed loss per small business (KRW, log scale)",
    "payments_per_day": "Payments issued per day: count and KRW",
    "cumulative_net": "Cumulative net (issued less returned), KRW",
    "intake_per_day": "Damage reports received per day",
}
REVIEW, NO_LOSS = "review", "no_loss"


class Money(TypedDict):
    count: int
    krw: int


class DayMoney(TypedDict):
    issued: Money
    settled: Money
    returned: Money
    net: Money


class CumulativeMoney(TypedDict):
    issued: Money
    settled: Money
    returned: Money
    outstanding: Money
    net: Money


class MoneyTotals(TypedDict):
    as_of: str
    day: DayMoney
    cumulative: CumulativeMoney
    balanced: bool  # issued = settled + returned + outstanding, and net agrees with payments_total_as_of


class AgeBucket(TypedDict):
    age: str
    count: int
    krw: int


class Flow(TypedDict):
    """Payments of one group (a basis, or a loss tier of the business paid): counts and KRW by bank state."""

    key: str
    label: str
    businesses: int  # distinct businesses paid in the group
    issued: Money
    settled: Money
    returned: Money
    outstanding: Money
    net: Money


class Band(TypedDict):
    key: str
    label: str
    businesses: int
    claimed_loss_krw: int


class LossDistribution(TypedDict):
    businesses: int  # small businesses with a claim counted for money
    with_loss: int  # ... of which with a loss above zero (the histogram)
    median_krw: int | None  # the median of the losses above zero (the lower one for an even count)
    edges_krw: list[int]  # histogram bin edges, ten a decade
    counts: list[int]
    bands: list[Band]  # businesses by the tier their loss falls in


class ReviewExposure(TypedDict):
    businesses: int
    held: int  # of which also held by the fraud checks
    claimed_loss_krw: int
    already_paid_krw: int


class Holds(TypedDict):
    businesses: int
    by_reason: dict[str, int]
    claimed_loss_krw: int
    already_paid_krw: int


class Awaiting(TypedDict):
    businesses: int
    owed_krw: int


class OverCapPayment(TypedDict):
    claimant_key: str
    business_reg_no: str
    amount_krw: int
    cap_krw: int
    basis: str
    held_on: str


class OverCap(TypedDict):
    payments: int
    krw: int
    rows: list[OverCapPayment]


class Budget(TypedDict):
    net_krw: int  # cash paid: issued less returned
    council_approved_businesses: int
    council_approved_krw: int  # the council's standing approvals (each a business's whole cash support)
    council_rejected_businesses: int
    still_owed_krw: int  # awaiting bank details plus held above the cap
    committed_krw: int  # net + still owed


class DayPoint(TypedDict):
    day: str
    reports_received: int
    issued: Money
    settled: Money
    returned: Money
    net: Money
    cumulative_net: Money


class TierEdge(TypedDict):
    basis: str
    max_loss_krw: int
    support_krw: int


class FinanceReport(TypedDict):
    program: str
    config_sha256: str
    day: str  # the day the report is as of: the latest published day on or before the one asked for
    requested_day: str
    review_threshold_krw: int
    max_payment_krw: int
    tiers: list[TierEdge]
    money: MoneyTotals
    outstanding_age: list[AgeBucket]
    businesses_paid: int  # distinct businesses with a payment issued
    by_basis: list[Flow]
    by_tier: list[Flow]
    review_queue: ReviewExposure
    holds: Holds
    awaiting_bank_details: Awaiting
    over_cap: OverCap
    budget: Budget
    daily: list[DayPoint]
    losses: LossDistribution


# Gathering ------------------------------------------------------------------------------------------------
