-- A receipt delivered on an earlier day is a re-delivery on this one: it counts once.
update deliveries set outcome = 'duplicate'
where run_date = :run_date and receipt_no = :receipt_no
