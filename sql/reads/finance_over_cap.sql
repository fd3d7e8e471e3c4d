-- Payments held above the cap as of :as_of: the business's latest state is the day that held it.
with capped_keys as (
    select distinct claimant_key
    from over_cap
    where run_date <= :as_of
),

latest_state as (
    select
        s.claimant_key,
        s.run_date,
        row_number() over (partition by s.claimant_key order by s.run_date desc) as state_rank
    from business_state as s
    inner join capped_keys as k on k.claimant_key = s.claimant_key
    where s.run_date <= :as_of
)

select o.claimant_key, o.business_reg_no, o.amount_krw, o.cap_krw, o.basis, o.run_date as held_on
from over_cap as o
inner join latest_state as s on s.claimant_key = o.claimant_key and s.run_date = o.run_date
where s.state_rank = 1
order by o.claimant_key
