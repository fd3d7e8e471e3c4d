-- The day's effective version of each receipt (its last line in the file), counted by the summary's groups.
with last_lines as (
    select receipt_no, max(line_no) as line_no
    from deliveries
    where run_date = :run_date
    group by receipt_no
)

select d.kakao_corp, d.claimant_type, d.paid_service, d.monetary_loss, count(*) as receipts
from deliveries as d
inner join last_lines as l on l.receipt_no = d.receipt_no and l.line_no = d.line_no
where d.run_date = :run_date
group by d.kakao_corp, d.claimant_type, d.paid_service, d.monetary_loss
