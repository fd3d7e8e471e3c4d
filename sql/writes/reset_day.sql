-- Clear a day's staged inputs so a rerun starts from the same state; the stage step then also
-- runs reset_day_results (one transaction).
delete from deliveries where run_date = :run_date;
delete from quarantine where run_date = :run_date;
delete from validation_results where run_date = :run_date;
