-- The payments issued up to :as_of (no account details), counted and summed by the day issued, basis and latest
-- bank result as of that day (status, its day; none yet: null): what the reconciliation adds up (publish, the
-- close, the finance report). Groups, not payments: a day's publish costs the same whatever the history holds.
with results as (
    select
        payment_id,
        status,
        run_date as result_date,
        row_number() over (partition by payment_id order by run_date desc, line_no desc) as result_rank
    from payment_returns
    where run_date <= :as_of
),

latest as (
    select payment_id, status, result_date from results where result_rank = 1
)

select
    p.run_date,
    p.basis,
    l.status,
    l.result_date,
    count(*) as payments,
    sum(p.amount_krw) as krw
from payments as p
left join latest as l on l.payment_id = p.payment_id
where p.run_date <= :as_of
group by p.run_date, p.basis, l.status, l.result_date
order by p.run_date, p.basis, coalesce(l.status, ''), coalesce(l.result_date, '')
