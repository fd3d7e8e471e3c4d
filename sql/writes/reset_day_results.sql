-- Clear what the compute step writes for a day (its inputs stay staged).
delete from touched_keys where run_date = :run_date;
delete from business_state where run_date = :run_date;
delete from payments where run_date = :run_date;
delete from decisions where run_date = :run_date;
delete from decision_errors where run_date = :run_date;
delete from payment_returns where run_date = :run_date;
delete from return_errors where run_date = :run_date;
delete from holds where run_date = :run_date;
delete from over_cap where run_date = :run_date;
delete from validation_results where run_date = :run_date and suite = 'payments_batch';
delete from batch_approvals where run_date = :run_date;
