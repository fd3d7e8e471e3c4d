-- The latest claimed loss as of :as_of of the businesses a run touched in (:changed_after, :changed_until], as
-- distinct losses and how many businesses claimed each (the finance report's distribution and bands; kept per
-- day by etl/reports/finance/snapshot.py; changed_after '' : every business, in full).
with changed as (
    select distinct claimant_key
    from touched_keys
    where run_date > :changed_after and run_date <= :changed_until
),

ranked as (
    select
        claimant_key,
        loss_krw,
        row_number() over (partition by claimant_key order by run_date desc) as state_rank
    from business_state
    where run_date <= :as_of and claimant_key in (select claimant_key from changed)
)

select loss_krw, count(*) as businesses
from ranked
where state_rank = 1
group by loss_krw
order by loss_krw
