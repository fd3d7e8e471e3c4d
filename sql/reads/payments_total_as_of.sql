-- The cash paid to small businesses up to and including a day (the rollout's budget report).
select coalesce(sum(amount_krw), 0) from payments where run_date <= :as_of
