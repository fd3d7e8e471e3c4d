-- The day's newly excluded claims (affiliate services), grouped by the operator that runs them.
select
    operator, service, receipt_no, received_at, channel, claimant_type, claimant_key, claimant_name,
    paid_service, monetary_loss, claimed_loss_krw, description
from deliveries
where run_date = :run_date
  and outcome = 'excluded'
order by operator, service, receipt_no, line_no
