"""
### claims_daily: one day of the 1015 relief program, from inbox files to a published payment batch

One run per day from the outage's day to the program's close (2022-10-15 .. 2023-03-31 KST), in order,
one at a time. The run's **logical date** (in KST) is the day it processes: the **intake day**.

**One intake day, three dates.** Airflow shows three dates for a run, and only one is the day:

| what Airflow shows | for the intake day 2022-10-15 | what it is |
|---|---|---|
| *logical date* (the run's header and Details) | 2022-10-15 00:00 KST (2022-10-14 15:00 UTC) | **the intake day** (the files' date) |
| *run after* (the Dag Runs list, Required actions) | 2022-10-16 00:00 KST (2022-10-15 15:00 UTC) | when the day is over and Airflow may start the run |
| run id | `scheduled__2022-10-15T15:00:00+00:00` | Airflow 3 names a scheduled run by its *run after* in UTC (a manual run by when it was triggered) |

So in KST the lists show the next day; in UTC they show the day before (the logical date) or, by luck, the day
itself (the run id). Airflow 3.3 gives a task no way to write its run's note (a person can: *Add a note* on
the run, or when clearing it), nor to name a scheduled run, so the day is named where people read: the first
line of every task's log (`claims_daily: intake day 2022-10-15. Airflow's dates for this run: ...`), the front
of the approval's subject in *Required actions* (`2022-10-15: release ...`), alerts, and every file's
`run_date`. Show times in KST with the UI's timezone menu (bottom left) and read the *logical date*.

* **Intake window** (2022-10-15 .. 2022-11-02): the day's `claims_YYYYMMDD.csv` is required; the run
  waits for it.
* **Settlement period** (to the close): the council's `decisions_YYYYMMDD.csv` and the bank's
  `returns_YYYYMMDD.csv` are processed on their day. A day that received neither is skipped (the run is
  green, its tasks skipped): it blocks nothing. A claims file for a day outside the window is refused.
* **The close** (`settlement.close_date`): after publishing, `close_program` writes the closing report;
  after it no day computes or pays.

| task | what it does | on failure |
|---|---|---|
| `check_day` | the day's place in the program: in order (every earlier day published), within its life; picks the path | fails at once (no retry) while an earlier day is unpublished: clear it after that day is fixed |
| `wait_for_claims_file` | waits for the intake's file, poking every 5 minutes (window days only) | fails after 6 h with a message naming the file |
| `nothing_to_do` | a settlement day without files | |
| `stage_claims` | parses, normalises, quarantines bad rows with a reason, classifies re-deliveries and affiliate claims | a malformed *file* stops the day, publishing nothing; the message names the missing, unexpected or misplaced columns |
| `validate_claims` | Great Expectations suite `claims_staged`; **Data Docs** (extra link *Data Docs*, `reports/DAY/data_docs/index.html`) | a critical failure stops the day; results kept, the Data Docs show which expectation |
| `compute_payments` | applies bank results and council decisions, recomputes touched businesses, diffs against the ledger | |
| `validate_payments` | Great Expectations suite `payments_batch`, added to the day's Data Docs | a critical failure stops the day; results kept |
| `route_batch` | a person approves every batch with payments, unless the program config approves automatically | |
| `prepare_approval` | gathers what the approver sees (below) and writes the masked payee preview `reports/DAY/approval/payees.html` | |
| `approve_payment_batch` | **maker-checker** in *Browse → Required actions*: only the program config's `approval.approvers` may answer (Airflow's assigned users, set when the task runs); waits 24 h | *Reject* (with a reason) publishes nothing; no answer in 24 h fails the task and alerts |
| `record_approval` / `auto_approve_batch` | records who released exactly this batch (its SHA-256); refuses anyone not named in `approval.approvers` | |
| `publish_outbox` | writes payments (+ ISO 20022 pain.001), reviews, exclusions, quarantine, reports, then the day manifest | |
| `close_day` | after a rejection: records who and why, discards the computed batch, and **fails the run** so it shows | |
| `close_program` | on the close date only: the closing report (`relief close`) | |

**The approval form** shows the batch's SHA-256 (the one the approval records), its payments and KRW by basis,
the largest payments (accounts masked), the review queue and holds (not in the batch), the cash paid so far
net of returns before and after the batch, and links: the masked payee preview, the day's Data Docs and its
finance report (`reports/finance/DAY/finance.html`, written when the day is published). Links are
`RELIEF_OUTBOX_URL` + the path when a file server fronts the outbox, else `file://` paths (the browser may
not follow those from the UI: copy the path shown). *Approve* and *Reject* are Airflow's own two buttons and
look alike: read the label before clicking.

**Alerts** (`RELIEF_ALERT_SMTP=host:port` + `RELIEF_ALERT_TO`, and/or `RELIEF_ALERT_WEBHOOK`): a task that
fails for good, an approval waiting, and the **deadline**: the day's payment file is due by
`RELIEF_PAYMENT_DUE_HOUR` (18) KST the day after the intake day (Airflow's deadline alert, run by the
triggerer; a run caught up late misses it at once and says so).

**Lineage**: `stage_claims` -> Asset `relief_staged_claims` -> `compute_payments` -> `relief_payment_batch` ->
`publish_outbox` -> `relief_published_day`, read by grants_rollout's budget (the Assets page).

Every task is idempotent for its day. A published day is final: clearing it writes the same files again,
byte for byte, and refuses changed inputs. **A rejected or failed day is recomputed by clearing its run**
(the run's page: the clear button at the top right, then *Confirm*; the dialog can also set the run's note);
clear the later runs that failed fast in `check_day` meanwhile too, at once or after it: cleared runs wait in
the one slot and run in date order, each checking that the day before is published.
Configuration: `RELIEF_INBOX`, `RELIEF_OUTBOX`, `RELIEF_DB_URL`, `RELIEF_PROGRAM` in the workers' environment.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import (
    AsyncCallback,
    CronDataIntervalTimetable,
    DeadlineAlert,
    DeadlineReference,
    Param,
    TriggerRule,
    dag,
    task,
)

from etl.airflow_shared import (
    KST,
    PAYMENT_BATCH,
    PAYMENT_DUE_HOUR,
    PUBLISHED_DAY,
    STAGED_CLAIMS,
    DataDocsLink,
    FinanceReportLink,
    PayeePreviewLink,
    ReliefNotifier,
    default_args,
    logged,
    run_dates,
    tags,
)

APPROVAL_TIMEOUT = dt.timedelta(hours=24)

APPROVAL_SUBJECT = (
    "{{ ti.xcom_pull(task_ids='prepare_approval')['run_date'] }}: release the 1015 relief payment batch"
    " ({{ '{:,}'.format(ti.xcom_pull(task_ids='prepare_approval')['payments']) }} payments,"
    " {{ '{:,}'.format(ti.xcom_pull(task_ids='prepare_approval')['control_sum_krw']) }} KRW)?"
)

APPROVAL_BODY = """\
{% set v = ti.xcom_pull(task_ids='prepare_approval') %}{% set c = ti.xcom_pull(task_ids='compute_payments') %}\
**Intake day {{ v.run_date }}: payment batch** (program 1015 relief)

| | |
|---|---|
| payments | {{ '{:,}'.format(v.payments) }} |
| control sum | {{ '{:,}'.format(v.control_sum_krw) }} KRW |
| largest payment | {{ '{:,}'.format(v.largest_payment_krw) }} KRW |
| batch SHA-256 | `{{ v.batch_sha256 }}` |
| review queue (awaiting the council; not in this batch) | {{ '{:,}'.format(v.review_queue) }} |
| fraud holds (not in this batch) | {{ '{:,}'.format(v.holds) }} |
| held above the cap (not in this batch) | {{ c.over_cap }} |
| council decisions applied | {{ c.decisions_applied }} |
| paid so far, net of returns | {{ '{:,}'.format(v.paid_before_krw) }} KRW before this batch, {{ '{:,}'.format(v.paid_after_krw) }} KRW with it |

**By basis**

| basis | payments | KRW |
|---|---:|---:|
{% for b in v.by_basis %}| {{ b.basis }} | {{ '{:,}'.format(b.payments) }} | {{ '{:,}'.format(b.krw) }} |
{% endfor %}
**Largest payments** (accounts masked)

| payment id | payee | holder | bank | account | KRW | basis |
|---|---|---|---|---|---:|---|
{% for p in v.preview %}| {{ p.payment_id }} | {{ p.payee_name }} | {{ p.account_holder }} | {{ p.bank_code }} | {{ p.account }} | {{ '{:,}'.format(p.amount_krw) }} | {{ p.basis }} |
{% endfor %}
**Look further:** [payee preview (masked)]({{ v.links.payee_preview.url }}) ·
[Data Docs]({{ v.links.data_docs.url }}) · [finance report]({{ v.links.finance_report.url }})
(written when the day is published). In the outbox: `{{ v.links.payee_preview.path }}`,
`{{ v.links.data_docs.path }}`, `{{ v.links.finance_report.path }}`.

*Approve* releases exactly this batch (the SHA-256 above) to the outbox; only an approver named in the program
config may. *Reject* publishes nothing for the day and leaves the ledger as it was: give the reason; the run then
fails so the day shows as rejected, and clearing the run computes the day again. The two buttons look alike:
read the label before you click. Unanswered after 24 h, the request fails and is alerted.
"""


class PaymentApproval(ApprovalOperator):
    """Airflow's ApprovalOperator, answerable only by the program's approvers, failing (alerted) when unanswered.

    The approvers are in the program config, which a DAG file may not read when parsed; they are set as
    the request's assigned users when the task runs. `record_approval` checks the answer again.
    """

    def execute(self, context):
        from etl.core.config import load_program

        self.log.info(run_dates(context))
        approvers = load_program().approvers
        self.assigned_users = [{"id": name, "name": name} for name in approvers] or None
        self.log.info("the batch may be approved or rejected by: %s", ", ".join(approvers) or "anyone (none named)")
        return super().execute(context)

    def execute_complete(self, context, event):
        self.log.info(run_dates(context))
        if event.get("error_type") == "timeout":
            from etl.core.errors import ReliefError

            message = (
                f"{run_dates(context).split('.')[0]}: nobody approved or rejected the payment batch within"
                f" {self.response_timeout}: nothing is published. Clear approve_payment_batch to ask again."
            )
            self.log.error("ReliefError: %s", message)
            raise ReliefError(message)
        if "error" not in event:
            # A Reject skips the downstream tasks by raising (DownstreamTasksSkipped), so Airflow pushes no return
            # value; close_day must still read who rejected and why: push the answer first.
            context["ti"].xcom_push(
                key="return_value",
                value={
                    "chosen_options": list(event.get("chosen_options") or []),
                    "params_input": dict(event.get("params_input") or {}),
                    "responded_at": event.get("responded_at"),
                    "responded_by_user": event.get("responded_by_user"),
                },
            )
        return super().execute_complete(context, event)


@dag(
    dag_id="claims_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=KST),
    start_date=pendulum.datetime(2022, 10, 15, tz=KST),
    end_date=pendulum.datetime(2023, 3, 31, tz=KST),
    catchup=True,
    max_active_runs=1,
    # No depends_on_past: the ledger enforces day order itself (check_day fails fast), so a failed day
    # never leaves a later run waiting in the only slot.
    default_args=default_args(),
    tags=tags("claims", "payments"),
    doc_md=__doc__,
    # The day's payment file is due by PAYMENT_DUE_HOUR KST the day after the intake day (the logical date).
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=dt.timedelta(days=1, hours=PAYMENT_DUE_HOUR),
        callback=AsyncCallback("etl.alerts.deadline_missed", kwargs={"what": "the day's payment file"}),
        name="payment file due",
    ),
)
def claims_daily():
    @task.branch
    @logged
    def check_day(logical_date=None, dag_run=None) -> str:
        """The day's path: wait for the claims file (window), process the day's files, or nothing to do.

        Fails at once (no retry) when an earlier day is not published: clear this run after that day is.
        """
        from etl.daily import day_path
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return day_path(run.warehouse, run.settings.inbox, run.program, run.day)

    # The sensor fails itself after 6 h with a message naming the file; Airflow's timeout is a backstop.
    @task.sensor(poke_interval=300, timeout=6 * 3600 + 900, mode="reschedule")
    @logged
    def wait_for_claims_file(logical_date=None, dag_run=None) -> bool:
        """Done when the intake's `claims_YYYYMMDD.csv` for the run's day is in the inbox (pokes every 5 min, 6 h)."""
        from etl.claims.delivery import claims_file_ready
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return claims_file_ready(run.settings.inbox, run.day, waiting_since=getattr(dag_run, "start_date", None))

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, outlets=[STAGED_CLAIMS])
    @logged
    def stage_claims(logical_date=None, dag_run=None) -> dict:
        """Parses the day's files, quarantines bad rows with a reason, classifies re-deliveries and affiliates.

        A malformed file (wrong header, not UTF-8, empty) stops the day with a message naming the file, the
        line and the columns that differ; nothing is published.
        """
        from etl.claims.stage import stage_day
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return stage_day(run.warehouse, run.settings.inbox, run.program, run.day, dag_run.run_id)

    @task(inlets=[STAGED_CLAIMS])
    @logged
    def validate_claims(logical_date=None, dag_run=None) -> dict:
        """Great Expectations suite `claims_staged` over the day's staged claims; Data Docs under
        `reports/DAY/data_docs/` (the task's *Data Docs* link). A critical failure stops the day."""
        from etl.quality.validate import validate_day_claims
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return validate_day_claims(run.warehouse, run.program, run.day, outbox=run.settings.outbox)

    @task(inlets=[STAGED_CLAIMS], outlets=[PAYMENT_BATCH])
    @logged
    def compute_payments(logical_date=None, dag_run=None) -> dict:
        """Applies bank results and council decisions, recomputes the touched businesses, diffs against the
        ledger: the day's payment batch (not yet published)."""
        from etl.payments.compute import compute_day
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return compute_day(run.warehouse, run.settings.inbox, run.program, run.day)

    @task(inlets=[PAYMENT_BATCH])
    @logged
    def validate_payments(logical_date=None, dag_run=None) -> dict:
        """Great Expectations suite `payments_batch` over the computed batch, added to the day's Data Docs.
        A critical failure stops the day."""
        from etl.quality.validate import validate_day_payments
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return validate_day_payments(run.warehouse, run.program, run.day, outbox=run.settings.outbox)

    @task.branch
    @logged
    def route_batch(ti=None) -> str:
        """A person approves every batch with payments, unless the program approves automatically."""
        from etl.core.config import load_program

        batch = ti.xcom_pull(task_ids="compute_payments") or {}
        if load_program().auto_approve_payments or not batch.get("payments") or batch.get("replayed"):
            return "auto_approve_batch"
        return "prepare_approval"

    @task
    @logged
    def auto_approve_batch(logical_date=None, dag_run=None) -> dict:
        """Approves without a person: by the program's switch, or because the batch has no payments."""
        from etl.payments.approval import approve_automatically
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return approve_automatically(run.warehouse, run.program, run.day)

    @task
    @logged
    def prepare_approval(logical_date=None, dag_run=None) -> dict:
        """What the approver sees: the batch's SHA-256, payments and KRW by basis, the largest payments (accounts
        masked), review queue and holds, cash paid so far, links; writes `reports/DAY/approval/payees.html`."""
        from etl.approval_view import approval_view
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return dict(approval_view(run.warehouse, run.program, run.day, run.settings.outbox))

    approve_payment_batch = PaymentApproval(
        task_id="approve_payment_batch",
        subject=APPROVAL_SUBJECT,
        body=APPROVAL_BODY,
        params={"reason": Param(None, type=["null", "string"], title="Reason (required to reject)")},
        response_timeout=APPROVAL_TIMEOUT,
        notifiers=[ReliefNotifier("awaits approval in Required actions")],
        doc_md="**Maker-checker**: an approver named in the program config approves or rejects exactly this batch"
        " in *Browse → Required actions*. Unanswered after 24 h the task fails (alerted); clear it to ask again.",
    )
    approve_payment_batch.operator_extra_links = (PayeePreviewLink(), DataDocsLink())

    @task
    @logged
    def record_approval(logical_date=None, dag_run=None, ti=None) -> dict:
        """Records who released exactly this batch (its SHA-256); refuses anyone not in `approval.approvers`."""
        from etl.payments.approval import record_airflow_approval
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return record_airflow_approval(
            run.warehouse, run.program, run.day, ti.xcom_pull(task_ids="approve_payment_batch")
        )

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, inlets=[PAYMENT_BATCH], outlets=[PUBLISHED_DAY])
    @logged
    def publish_outbox(logical_date=None, dag_run=None) -> dict:
        """Writes the day's folders (payments + pain.001, reviews, exclusions, quarantine, reports), then the day
        manifest: the day is published and final."""
        from etl.payments.publish import publish_day
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return publish_day(run.warehouse, run.settings.outbox, run.program, run.day, dag_run.run_id)

    @task(trigger_rule=TriggerRule.NONE_FAILED)
    @logged
    def close_day(logical_date=None, dag_run=None, ti=None) -> str:
        """After a rejection (nothing failed, yet nothing published): record it, discard the batch, fail the run."""
        from etl.payments.approval import close_rejected_day
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return close_rejected_day(run.warehouse, run.day, ti.xcom_pull(task_ids="approve_payment_batch"))

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    @logged
    def close_program(logical_date=None, dag_run=None) -> dict:
        """On the program's close date only: the closing report, and no payment after it."""
        from etl.reports.closing import close_on_schedule
        from etl.runtime import task_run

        run = task_run(logical_date, dag_run)
        return close_on_schedule(run.warehouse, run.settings.outbox, run.program, run.day)

    path = check_day()
    stage = stage_claims()
    path >> wait_for_claims_file() >> stage
    path >> stage
    idle = EmptyOperator(task_id="nothing_to_do", doc_md="A settlement day without inbox files: nothing to do.")
    path >> idle
    route = route_batch()
    checked_claims = validate_claims()
    checked_payments = validate_payments()
    for validation in (checked_claims, checked_payments):
        validation.operator.operator_extra_links = (DataDocsLink(),)
    stage >> checked_claims >> compute_payments() >> checked_payments >> route
    publish = publish_outbox()
    publish.operator.operator_extra_links = (FinanceReportLink(), DataDocsLink())
    route >> auto_approve_batch() >> publish
    route >> prepare_approval() >> approve_payment_batch >> record_approval() >> publish
    publish >> close_day()
    [publish, idle] >> close_program()


claims_daily()
