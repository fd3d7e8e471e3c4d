-- Businesses held for review as of :run_date (their latest state is `held`), with the reasons.
with held_keys as (
    select distinct claimant_key
    from business_state
    where status = 'held' and run_date <= :run_date
),

latest_state as (
    select
        s.*,
        row_number() over (partition by s.claimant_key order by s.run_date desc) as state_rank
    from business_state as s
    inner join held_keys as k on k.claimant_key = s.claimant_key
    where s.run_date <= :run_date
)

select
    s.claimant_key, s.business_reg_no, s.claimant_name, s.loss_krw, s.entitlement_krw, s.paid_krw,
    h.reason, h.detail, s.run_date as held_on
from latest_state as s
inner join holds as h on h.claimant_key = s.claimant_key and h.run_date = s.run_date
where s.state_rank = 1 and s.status = 'held'
order by s.claimant_key, h.reason
