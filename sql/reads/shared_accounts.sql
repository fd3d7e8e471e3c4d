-- For each bank account a touched business has given, every small business that gave it too, where more than
-- :max_businesses_per_account businesses did.
with touched_accounts as (
    select distinct d.bank_code, d.account_no
    from deliveries as d
    inner join touched_keys as t on t.claimant_key = d.claimant_key and t.run_date = :run_date
    where d.run_date <= :run_date
      and d.claimant_type = 'small_business'
      and d.account_no is not null
),

sharing as (
    select d.bank_code, d.account_no, d.claimant_key
    from deliveries as d
    inner join touched_accounts as a on a.account_no = d.account_no and a.bank_code = d.bank_code
    where d.run_date <= :run_date
      and d.claimant_type = 'small_business'
    group by d.bank_code, d.account_no, d.claimant_key
),

counted as (
    select
        bank_code,
        account_no,
        claimant_key,
        count(*) over (partition by bank_code, account_no) as businesses
    from sharing
)

-- Only the accounts over the limit: the others (nearly all) are no hold, and not worth fetching.
select bank_code, account_no, claimant_key, businesses
from counted
where businesses > :max_businesses_per_account
