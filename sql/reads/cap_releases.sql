-- The second approvals of above-cap payments for the businesses touched on :run_date.
select r.claimant_key, r.amount_krw, r.released_by, r.released_at
from cap_releases as r
inner join touched_keys as t on t.claimant_key = r.claimant_key and t.run_date = :run_date
