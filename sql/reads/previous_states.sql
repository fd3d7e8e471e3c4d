-- The latest state before :run_date of each business touched that day (hold placed or released).
with ranked as (
    select
        s.claimant_key,
        s.status,
        row_number() over (partition by s.claimant_key order by s.run_date desc) as state_rank
    from business_state as s
    inner join touched_keys as t on t.claimant_key = s.claimant_key and t.run_date = :run_date
    where s.run_date < :run_date
)

select claimant_key, status
from ranked
where state_rank = 1
