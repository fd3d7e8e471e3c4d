-- The net cash paid to small businesses up to and including :as_of: issued, less the payments whose
-- latest bank result as of that day is `returned` (the rollout's budget report).
with results as (
    select
        payment_id,
        status,
        row_number() over (partition by payment_id order by run_date desc, line_no desc) as result_rank
    from payment_returns
    where run_date <= :as_of
),

returned as (
    select payment_id from results where result_rank = 1 and status = 'returned'
)

select coalesce(sum(p.amount_krw), 0)
from payments as p
where p.run_date <= :as_of
  and p.payment_id not in (select payment_id from returned)
