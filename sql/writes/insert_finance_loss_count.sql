-- How many businesses' latest claimed loss is :loss_krw as of a published day.
insert into finance_loss_counts (run_date, loss_krw, businesses) values (:run_date, :loss_krw, :businesses)
