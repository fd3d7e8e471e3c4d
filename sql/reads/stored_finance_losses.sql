-- :run_date's stored latest-loss counts, in finance_losses.sql's order.
select loss_krw, businesses
from finance_loss_counts
where run_date = :run_date
order by loss_krw
