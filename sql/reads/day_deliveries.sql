-- The day's accepted and excluded rows, as the claims suite validates them (no free text), in key order: the
-- suite runs over frames of a few hundred thousand rows, cut only between two line numbers.
select
    run_date, line_no, receipt_no, received_at, channel, claimant_type, claimant_key, business_reg_no, phone,
    service, kakao_corp, paid_service, monetary_loss, claimed_loss_krw, bank_code, account_no, outcome
from deliveries
where run_date = :run_date
order by line_no
