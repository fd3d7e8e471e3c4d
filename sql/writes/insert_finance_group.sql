-- One finance group as of a published day.
insert into finance_groups (run_date, loss_krw, basis, status, payments, krw, businesses, basis_businesses)
values (:run_date, :loss_krw, :basis, :status, :payments, :krw, :businesses, :basis_businesses)
