-- Record who approved or rejected :run_date's batch, and its SHA-256.
insert into batch_approvals (run_date, decision, decided_by, batch_sha256, payments, control_sum_krw, decided_at)
values (:run_date, :decision, :decided_by, :batch_sha256, :payments, :control_sum_krw, :decided_at)
