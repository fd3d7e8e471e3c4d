-- Within one day's file, a receipt's lines after its first are re-deliveries: they count once.
-- (The first lines are found once, not per row: a correlated subquery here is quadratic on SQLite.)
update deliveries
set outcome = 'duplicate'
where run_date = :run_date
  and (receipt_no, line_no) not in (
      select receipt_no, min(line_no)
      from deliveries
      where run_date = :run_date
      group by receipt_no
  )
