-- The day's accepted and excluded rows, as the claims suite validates them (no free text).
select
    run_date, line_no, receipt_no, received_at, channel, claimant_type, claimant_key, business_reg_no, phone,
    service, kakao_corp, paid_service, monetary_loss, claimed_loss_krw, bank_code, account_no, outcome
from deliveries
where run_date = :run_date
