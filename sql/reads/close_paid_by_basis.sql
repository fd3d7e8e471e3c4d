-- Payments issued up to :as_of by basis, and how many of them the bank returned (latest result).
with results as (
    select
        payment_id,
        status,
        row_number() over (partition by payment_id order by run_date desc, line_no desc) as result_rank
    from payment_returns
    where run_date <= :as_of
),

latest as (
    select payment_id, status from results where result_rank = 1
)

select
    p.basis,
    count(*) as issued,
    sum(p.amount_krw) as issued_krw,
    sum(case when l.status = 'returned' then 1 else 0 end) as returned,
    sum(case when l.status = 'returned' then p.amount_krw else 0 end) as returned_krw
from payments as p
left join latest as l on l.payment_id = p.payment_id
where p.run_date <= :as_of
group by p.basis
order by p.basis
