-- The latest published day on or before :as_of (its cumulative counts carry forward).
select run_date, run_id, status, day_counts, cumulative_counts
from day_runs
where status = 'published' and (cast(:as_of as text) is null or run_date <= cast(:as_of as text))
order by run_date desc
limit 1
