-- How many businesses are owed money they cannot be paid for want of bank details, as of :run_date
-- (held businesses are owed nothing until the council decides; see compute.py's owed_krw).
with owed_keys as (
    select distinct claimant_key
    from business_state
    where owed_krw > 0 and run_date <= :run_date
),

latest_state as (
    select
        s.owed_krw,
        s.has_bank_details,
        row_number() over (partition by s.claimant_key order by s.run_date desc) as state_rank
    from business_state as s
    inner join owed_keys as k on k.claimant_key = s.claimant_key
    where s.run_date <= :run_date
)

select count(*) as businesses, coalesce(sum(owed_krw), 0) as owed_krw
from latest_state
where state_rank = 1 and owed_krw > 0 and has_bank_details = 0
