-- Within one day's file, a receipt's lines after its first are re-deliveries: they count once.
-- (Each line's rank within its receipt, found in one pass: a `(receipt_no, line_no) not in (...)` took 29 s
-- on SQLite for a 200,000-line day, this 0.2 s; a correlated subquery is quadratic.)
with ranked as (
    select
        line_no,
        row_number() over (partition by receipt_no order by line_no) as line_rank
    from deliveries
    where run_date = :run_date
)

update deliveries
set outcome = 'duplicate'
where run_date = :run_date
  and line_no in (select line_no from ranked where line_rank > 1)
