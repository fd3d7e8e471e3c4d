"""What every relief DAG shares: owner, tags, retries, no retry on a deterministic error, alerts, the
outbox's Assets, and the first line of every task's log.

The one module of `etl` that imports Airflow at its top: only the DAG files import it. It lives in the
package (not beside the DAG files) so a DAG file imports from an installed `etl` wherever it is loaded: the
DAG processor, a worker, `dag.test`, or a script with only the repository on sys.path.
Nothing here reads a file or imports the rest of `etl` at parse time; what a task needs is imported when it runs.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from airflow.sdk import Asset, BaseNotifier, BaseOperatorLink, ExceptionRetryPolicy, RetryAction, RetryRule

OWNER = "relief"
KST = "Asia/Seoul"
log = logging.getLogger("relief.task")
F = TypeVar("F", bound=Callable[..., Any])

# The payment file of an intake day is due by this hour (KST) of the next day: claims_daily's deadline alert.
# Read from the DAG processor's environment when the DAG is parsed (an environment variable, not a file).
PAYMENT_DUE_HOUR = int(os.environ.get("RELIEF_PAYMENT_DUE_HOUR", "18"))

# The outbox's datasets, as Airflow Assets: the Assets page shows claims -> payments -> rollout budget.
STAGED_CLAIMS = Asset(name="relief_staged_claims", uri="relief://warehouse/staged_claims", group="relief")
PAYMENT_BATCH = Asset(name="relief_payment_batch", uri="relief://warehouse/payment_batch", group="relief")
PUBLISHED_DAY = Asset(name="relief_published_day", uri="relief://outbox/days", group="relief")
USERS = Asset(name="relief_users", uri="relief://inbox/users", group="relief")
GRANTS = Asset(name="relief_grants", uri="relief://outbox/grants", group="relief")
BUDGET = Asset(name="relief_budget", uri="relief://outbox/reports/budget", group="relief")


class ReliefNotifier(BaseNotifier):
    """Sends an alert (etl.alerts: SMTP relay and/or webhook from the environment) about a task.

    `event` says what happened: "failed" as a task's on_failure_callback, "awaits approval" for the
    approval's request. Messages carry no account number and no sink address (see etl/alerts.py).
    """

    def __init__(self, event: str = "failed"):
        super().__init__()
        self.event = event

    def notify(self, context: Any) -> None:
        from etl.alerts import send, task_failed

        alert = task_failed(context, self.event)
        if self.event != "failed":  # a request for a person (the approval): what is asked, no error
            from etl.alerts import Alert

            fields = {k: v for k, v in alert.fields.items() if k != "error"}
            asked = str(getattr(context.get("task"), "subject", "") or "")
            alert = Alert("approval_requested", alert.subject, f"{alert.subject}: {asked}".rstrip(": "), fields)
        send(alert)


def default_args(**overrides: Any) -> dict[str, Any]:
    """Two retries for what may pass (a database or disk hiccup); none for a ReliefError; an alert on failure.

    A bad inbox file, a failed audit or an out-of-order day fails the same way every time:
    the task fails at once with its message instead of retrying, and the failure is alerted.
    """
    return {
        "owner": OWNER,
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=2),
        "retry_policy": ExceptionRetryPolicy(
            rules=[RetryRule(exception="etl.core.errors.ReliefError", action=RetryAction.FAIL, reason="deterministic")]
        ),
        "on_failure_callback": [ReliefNotifier("failed")],
        **overrides,
    }


def tags(*extra: str) -> list[str]:
    return [OWNER, *extra]


# ---------------------------------------------------------------------------------------------
# the first line of every task's log, and a ReliefError's message before its traceback


def run_dates(context: Any) -> str:
    """The run's program day and Airflow's three dates for it, in one line (what the UI shows apart)."""
    dag_run = context.get("dag_run")
    logical = context.get("logical_date")
    run_after = getattr(dag_run, "run_after", None)
    run_id = context.get("run_id") or getattr(dag_run, "run_id", "?")
    dag_id = getattr(dag_run, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    kst = ZoneInfo(KST)

    def local(moment: Any) -> str:
        return moment.astimezone(kst).strftime("%Y-%m-%d %H:%M KST") if moment is not None else "none"

    moment = logical or run_after
    day = moment.astimezone(kst).date().isoformat() if moment is not None else "?"
    what = "intake day" if dag_id == "claims_daily" else "day"
    return (
        f"{dag_id}: {what} {day}. Airflow's dates for this run: logical date {local(logical)} (the day itself),"
        f" run after {local(run_after)} (when the day is over), run id {run_id} (named by when it may start, in UTC)"
    )


def logged(fn: F) -> F:
    """Wrap a task's callable: its first log line names the day; a ReliefError's message is logged first.

    Airflow logs a failed task's exception with its traceback; the operator's message (what is wrong, what
    to do) is logged at ERROR before it, so it is the first thing the log shows of the failure.
    """

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        from airflow.sdk import get_current_context

        try:
            context = get_current_context()
        except RuntimeError:  # called outside a task (a test calling the callable): no run to name
            context = None
        if context is not None:
            log.info(run_dates(context))
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            from etl.core.errors import ReliefError

            if isinstance(exc, ReliefError):
                log.error("%s: %s", type(exc).__name__, exc)
            raise

    return run  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# links from a task to the outbox's pages (Airflow 3 stores the URL as an XCom when the task ends)


def _day_of(ti: Any) -> dt.date:
    context = ti.get_template_context()
    moment = context.get("logical_date") or getattr(context.get("dag_run"), "run_after", None)
    if moment is None:
        raise ValueError("the task instance's run has neither a logical date nor a run-after date")
    return moment.astimezone(ZoneInfo(KST)).date()


class _OutboxLink(BaseOperatorLink):
    page = ""  # a name of etl.approval_view.DAY_PAGES

    @property
    def xcom_key(self) -> str:
        return f"_link_{type(self).__name__}"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from etl.approval_view import day_page, outbox_url
        from etl.core.settings import Settings

        return outbox_url(Settings.resolve().outbox, day_page(self.page, _day_of(ti_key)))


class DataDocsLink(_OutboxLink):
    """The day's Great Expectations Data Docs (`reports/DAY/data_docs/index.html`)."""

    name = "Data Docs"
    page = "data_docs"


class PayeePreviewLink(_OutboxLink):
    """The masked payee preview of the day's batch (`reports/DAY/approval/payees.html`)."""

    name = "Payees (masked)"
    page = "payee_preview"


class FinanceReportLink(_OutboxLink):
    """The day's finance report (`reports/finance/DAY/finance.html`, written when the day is published)."""

    name = "Finance report"
    page = "finance_report"
