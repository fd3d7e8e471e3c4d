-- Every business's latest claimed loss as of :as_of, as distinct losses and how many businesses claimed each
-- (the finance report's distribution and bands).
with ranked as (
    select
        claimant_key,
        loss_krw,
        row_number() over (partition by claimant_key order by run_date desc) as state_rank
    from business_state
    where run_date <= :as_of
)

select loss_krw, count(*) as businesses
from ranked
where state_rank = 1
group by loss_krw
order by loss_krw
