-- Keep a suite's result for a day, replacing an earlier one.
delete from validation_results where run_date = :run_date and suite = :suite;
insert into validation_results (run_date, suite, success, hard_failures, soft_failures, result_json)
values (:run_date, :suite, :success, :hard_failures, :soft_failures, :result_json)
