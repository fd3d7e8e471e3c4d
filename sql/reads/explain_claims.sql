-- Every delivered version of every claim of one business, oldest first (relief explain).
select
    run_date, line_no, receipt_no, received_at, claimant_type, service, kakao_corp, paid_service, monetary_loss,
    claimed_loss_krw, bank_code, account_no, outcome
from deliveries
where claimant_key = :claimant_key
  and (claimant_type = 'small_business' or claimant_type = 'enterprise')  -- a business's: the claimant index's rows
order by received_at, receipt_no, run_date, line_no
