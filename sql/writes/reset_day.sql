-- Clear a day's staged inputs so a rerun of the stage step starts from the same state. Only what
-- staging owns: the compute step replaces its own results (reset_day_results) when it runs.
delete from deliveries where run_date = :run_date;
delete from quarantine where run_date = :run_date;
delete from validation_results where run_date = :run_date and suite = 'claims_staged';
