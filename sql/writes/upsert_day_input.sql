-- The hash of one input (claims, decisions, returns, config) a day was computed from.
insert into day_inputs (run_date, kind, sha256)
values (:run_date, :kind, :sha256)
on conflict (run_date, kind) do update set sha256 = excluded.sha256
