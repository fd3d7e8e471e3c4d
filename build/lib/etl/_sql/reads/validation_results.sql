-- The Great Expectations results kept for :run_date.
select suite, success, hard_failures, soft_failures
from validation_results
where run_date = :run_date
order by suite
