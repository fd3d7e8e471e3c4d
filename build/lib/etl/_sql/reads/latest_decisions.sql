-- The decision that stands for each touched business as of :run_date: the latest decided_at.
with ranked as (
    select
        d.claimant_key,
        d.decision,
        d.approved_amount_krw,
        d.decided_at,
        row_number() over (
            partition by d.claimant_key order by d.decided_at desc, d.run_date desc, d.line_no desc
        ) as decision_rank
    from decisions as d
    inner join touched_keys as t on t.claimant_key = d.claimant_key and t.run_date = :run_date
    where d.run_date <= :run_date
)

select claimant_key, decision, approved_amount_krw, decided_at
from ranked
where decision_rank = 1
