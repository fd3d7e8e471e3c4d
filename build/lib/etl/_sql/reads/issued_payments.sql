-- The issued payments (before :run_date) that a day's bank results name, with their business.
select payment_id, claimant_key, amount_krw, run_date
from payments
where payment_id in (select payment_id from payment_returns where run_date = :run_date)
  and run_date < :run_date
