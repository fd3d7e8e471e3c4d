-- The effective claims (latest delivery of each receipt) as of :run_date of the keys touched that day.
with touched as (
    select claimant_key
    from touched_keys
    where run_date = :run_date
),

candidate_receipts as (
    select distinct d.receipt_no
    from deliveries as d
    inner join touched as t on t.claimant_key = d.claimant_key
    where d.run_date <= :run_date
      and (d.claimant_type = 'small_business' or d.claimant_type = 'enterprise')  -- the claimant index's rows
),

-- Only the columns the result shows go through the window's sort (not the free-text description, the phone...).
versions as (
    select
        d.receipt_no, d.received_at, d.claimant_type, d.claimant_key, d.claimant_name, d.business_reg_no, d.service,
        d.kakao_corp, d.paid_service, d.monetary_loss, d.claimed_loss_krw, d.bank_code, d.account_no, d.account_holder,
        row_number() over (partition by d.receipt_no order by d.run_date desc, d.line_no desc) as version_rank
    from deliveries as d
    inner join candidate_receipts as c on c.receipt_no = d.receipt_no
    where d.run_date <= :run_date
)

select
    receipt_no, received_at, claimant_type, claimant_key, claimant_name, business_reg_no, service,
    kakao_corp, paid_service, monetary_loss, claimed_loss_krw, bank_code, account_no, account_holder
from versions
where version_rank = 1
  and claimant_key in (select claimant_key from touched)
