-- The published days up to :as_of with their day counts (the finance report's daily series).
with published as (
    select run_date, day_counts
    from day_runs
    where status = 'published' and run_date <= :as_of
)

select run_date, day_counts
from published
order by run_date
