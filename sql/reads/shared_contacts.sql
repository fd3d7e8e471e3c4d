-- Small businesses that gave the same account holder and phone as a touched business.
with touched_contacts as (
    select distinct d.account_holder, d.phone
    from deliveries as d
    inner join touched_keys as t on t.claimant_key = d.claimant_key and t.run_date = :run_date
    where d.run_date <= :run_date
      and d.claimant_type = 'small_business'
      and d.phone is not null
      and d.account_holder is not null
),

sharing as (
    select d.account_holder, d.phone, d.claimant_key
    from deliveries as d
    inner join touched_contacts as c on c.phone = d.phone and c.account_holder = d.account_holder
    where d.run_date <= :run_date
      and d.claimant_type = 'small_business'
    group by d.account_holder, d.phone, d.claimant_key
),

counted as (
    select account_holder, phone, claimant_key, count(*) over (partition by account_holder, phone) as businesses
    from sharing
)

-- Only the contacts two businesses or more gave: the others (nearly all) are no hold, and not worth fetching.
select account_holder, phone, claimant_key
from counted
where businesses > 1
