-- The decision that stands for each business as of :as_of (latest decided_at), by outcome.
with ranked as (
    select
        claimant_key,
        decision,
        approved_amount_krw,
        row_number() over (partition by claimant_key order by decided_at desc, run_date desc, line_no desc) as decision_rank
    from decisions
    where run_date <= :as_of
)

select decision, count(*) as businesses, coalesce(sum(approved_amount_krw), 0) as approved_krw
from ranked
where decision_rank = 1
group by decision
order by decision
