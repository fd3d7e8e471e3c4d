-- Every payment issued up to :run_date with its latest bank result as of that day (if any).
with results as (
    select
        payment_id,
        status,
        run_date as result_date,
        row_number() over (partition by payment_id order by run_date desc, line_no desc) as result_rank
    from payment_returns
    where run_date <= :run_date
)

select p.payment_id, p.run_date, p.amount_krw, r.status, r.result_date
from payments as p
left join results as r on r.payment_id = p.payment_id and r.result_rank = 1
where p.run_date <= :run_date
