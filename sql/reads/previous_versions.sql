-- For each receipt delivered on :run_date that was delivered before, its latest earlier version.
-- Staging looks up every receipt of the day (:redelivered_only = 0) to find the re-deliveries, and marks their lines
-- 'duplicate' (mark_redelivered.sql); compute, after it, looks up only the day's 'duplicate' lines
-- (:redelivered_only = 1): the same receipts found, from a few percent of the day's lines instead of all of them.
with todays_receipts as (
    select distinct receipt_no
    from deliveries
    where run_date = :run_date
      and (:redelivered_only = 0 or outcome = 'duplicate')
),

earlier_versions as (
    select
        d.receipt_no,
        d.claimant_key,
        d.claimant_type,
        d.kakao_corp,
        d.paid_service,
        d.monetary_loss,
        row_number() over (partition by d.receipt_no order by d.run_date desc, d.line_no desc) as version_rank
    from deliveries as d
    inner join todays_receipts as t on t.receipt_no = d.receipt_no
    where d.run_date < :run_date
)

select receipt_no, claimant_key, claimant_type, kakao_corp, paid_service, monetary_loss
from earlier_versions
where version_rank = 1
