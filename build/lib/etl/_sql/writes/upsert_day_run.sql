-- One row per day: insert, or replace what an earlier run of the same day wrote.
insert into day_runs (run_date, run_id, status, config_sha256, claims_sha256, day_counts, cumulative_counts, updated_at)
values (:run_date, :run_id, :status, :config_sha256, :claims_sha256, :day_counts, :cumulative_counts, :updated_at)
on conflict (run_date) do update set
    run_id = excluded.run_id,
    status = excluded.status,
    config_sha256 = excluded.config_sha256,
    claims_sha256 = excluded.claims_sha256,
    day_counts = excluded.day_counts,
    cumulative_counts = excluded.cumulative_counts,
    updated_at = excluded.updated_at
