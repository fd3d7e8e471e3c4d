import pytest

from etl.payments.entitlement import Decision, business_state, payment_due, payment_id, surviving_claims

KEY = "2118607719"


def c(receipt_no="R1", service="kakaotalk", loss=100_000, received_at="2022-10-16T01:00:00.000000Z", **kw):
    row = {
        "receipt_no": receipt_no,
        "received_at": received_at,
        "claimant_type": "small_business",
        "claimant_key": KEY,
        "claimant_name": "행복분식",
        "business_reg_no": KEY,
        "service": service,
        "kakao_corp": 1,
        "paid_service": 0,
        "monetary_loss": 1,
        "claimed_loss_krw": loss,
        "bank_code": "088",
        "account_no": "110432118290",
        "account_holder": "김행복",
    }
    row.update(kw)
    return row


@pytest.mark.parametrize(
    "loss, status, entitlement, basis",
    [
        (0, "no_loss", 0, None),
        (1, "tier", 30_000, "tier_30000"),
        (300_000, "tier", 30_000, "tier_30000"),
        (300_001, "tier", 50_000, "tier_50000"),
        (500_000, "tier", 50_000, "tier_50000"),
        (500_001, "review_pending", 0, None),
    ],
)
def test_tier_edges(program, loss, status, entitlement, basis):
    state = business_state(KEY, [c(loss=loss)], None, program)
    assert (state.status, state.entitlement_krw, state.basis) == (status, entitlement, basis)


def test_loss_sums_over_services_and_the_tier_applies_once(program):
    claims = [c("R1", "kakaotalk", 200_000), c("R2", "talk_channel", 150_000), c("R3", "kakao_map", 100_000)]
    state = business_state(KEY, claims, None, program)
    assert state.loss_krw == 450_000
    assert state.surviving_claims == 3
    assert state.entitlement_krw == 50_000  # one tier on the sum, not 3 x 30,000


def test_a_resubmission_supersedes_the_earlier_claim_for_the_same_service(program):
    claims = [
        c("R1", loss=270_000, received_at="2022-10-16T01:00:00.000000Z"),
        c("R2", loss=320_000, received_at="2022-10-16T04:00:00.000000Z"),
    ]
    state = business_state(KEY, claims, None, program)
    assert state.loss_krw == 320_000 and state.basis == "tier_50000"


def test_resubmission_ties_on_time_go_to_the_greater_receipt_no():
    same_time = "2022-10-16T01:00:00.000000Z"
    claims = [c("R9", loss=1, received_at=same_time), c("R10", loss=2, received_at=same_time)]
    assert [s["receipt_no"] for s in surviving_claims(claims)] == ["R9"]  # "R9" > "R10" as text


def test_affiliate_non_monetary_and_non_business_claims_do_not_count(program):
    claims = [
        c("R1", loss=100_000),
        c("R2", service="kakao_t", loss=900_000, kakao_corp=0),
        c("R3", service="talk_drawer", loss=None, monetary_loss=0),
        c("R4", service="daum", loss=900_000, claimant_type="enterprise"),
    ]
    assert business_state(KEY, claims, None, program).loss_krw == 100_000


def test_bank_details_come_from_the_latest_counted_claim_that_has_them(program):
    claims = [
        c("R1", "kakaotalk", 100_000, received_at="2022-10-16T01:00:00.000000Z", account_no="111"),
        c("R2", "talk_channel", 100_000, received_at="2022-10-17T01:00:00.000000Z", account_no="222"),
        c("R3", "kakao_map", 100_000, received_at="2022-10-18T01:00:00.000000Z", bank_code=None, account_no=None),
    ]
    assert business_state(KEY, claims, None, program).bank["account_no"] == "222"


def test_review_pays_only_what_the_council_approved(program):
    claims = [c(loss=1_200_000)]
    approved = business_state(KEY, claims, Decision("approved", 400_000, "2022-11-05T01:00:00.000000Z"), program)
    assert (approved.status, approved.entitlement_krw, approved.basis) == (
        "review_approved",
        400_000,
        "review_approved",
    )
    rejected = business_state(KEY, claims, Decision("rejected", None, "2022-11-05T01:00:00.000000Z"), program)
    assert (rejected.status, rejected.entitlement_krw) == ("review_rejected", 0)


def test_payment_due_pays_the_difference_and_never_claws_back(program):
    state = business_state(KEY, [c(loss=320_000)], None, program)
    first = payment_due(state, 0)
    assert (first.amount_krw, first.basis) == (50_000, "tier_50000")
    top_up = payment_due(state, 30_000)
    assert (top_up.amount_krw, top_up.basis) == (20_000, "top_up")
    assert payment_due(state, 50_000) is None
    lower = business_state(KEY, [c(loss=100_000)], None, program)
    assert payment_due(lower, 50_000) is None  # paid more than the new entitlement: nothing, no claw-back


def test_review_approval_after_a_tier_payment_pays_the_rest_as_review_approved(program):
    state = business_state(KEY, [c(loss=900_000)], Decision("approved", 200_000, "x"), program)
    due = payment_due(state, 50_000)
    assert (due.amount_krw, due.basis) == (150_000, "review_approved")


def test_no_bank_details_means_nothing_paid_yet(program):
    state = business_state(KEY, [c(bank_code=None, account_no=None)], None, program)
    assert state.entitlement_krw == 30_000 and payment_due(state, 0) is None


def test_payment_ids_are_deterministic_and_fit_iso20022():
    pid = payment_id("P1015", "20221016", 1)
    assert pid == "P1015-20221016-0000001" and len(pid) <= 35
