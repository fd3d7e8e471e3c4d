-- Businesses over the review threshold still awaiting the council's decision as of :run_date.
with review_keys as (
    select distinct claimant_key
    from business_state
    where status = 'review_pending' and run_date <= :run_date
),

latest_state as (
    select
        s.*,
        row_number() over (partition by s.claimant_key order by s.run_date desc) as state_rank,
        min(case when s.status = 'review_pending' then s.run_date end)
            over (partition by s.claimant_key) as pending_since
    from business_state as s
    inner join review_keys as k on k.claimant_key = s.claimant_key
    where s.run_date <= :run_date
)

select
    claimant_key, business_reg_no, claimant_name, loss_krw, surviving_claims, services, receipts,
    paid_krw, has_bank_details, pending_since
from latest_state
where state_rank = 1 and status = 'review_pending'
order by pending_since, claimant_key
