-- Clear :run_date's stored finance groups (they are written again whole).
delete from finance_groups where run_date = :run_date;
delete from finance_loss_counts where run_date = :run_date;
delete from finance_snapshot_days where run_date = :run_date;
