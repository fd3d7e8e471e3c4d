-- Businesses whose latest state before :run_date is still owed money (e.g. no bank details yet).
with latest_state as (
    select
        claimant_key,
        owed_krw,
        row_number() over (partition by claimant_key order by run_date desc) as state_rank
    from business_state
    where run_date < :run_date
      and claimant_key in (select claimant_key from business_state where owed_krw > 0 and run_date < :run_date)
)

select claimant_key
from latest_state
where state_rank = 1 and owed_krw > 0
