"""Alerts (etl/alerts.py, etl/airflow_shared.py): a task that fails for good and a missed payment deadline reach an
SMTP relay and a webhook that the test runs on 127.0.0.1, without account numbers or the sinks' addresses.

The deadline callback is run through Airflow's own CallbackTrigger (what the triggerer does with a missed
deadline), with the context the scheduler builds for it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import types

from tests.dags.conftest import DAGS, free_port

ACCOUNT = "110-432-118290"


def sink_env(smtp=None, webhook=None) -> dict[str, str]:
    env = {"NO_PROXY": "*", "no_proxy": "*"}
    if smtp is not None:
        env.update(RELIEF_ALERT_SMTP=smtp.address, RELIEF_ALERT_TO="ops@relief.test, finance@relief.test")
    if webhook is not None:
        env["RELIEF_ALERT_WEBHOOK"] = webhook.address
    return env


def test_an_alert_reaches_both_sinks_without_account_numbers(smtp_receiver, webhook_receiver):
    from etl.alerts import Alert, send

    alert = Alert(
        "task_failed",
        "claims_daily 2022-10-16: close_day failed",
        f"BatchRejected: 2022-10-16: the payment batch was rejected by park: account {ACCOUNT} looks wrong",
        {"dag_id": "claims_daily", "day": "2022-10-16", "error": f"reason mentions {ACCOUNT.replace('-', '')}"},
    )
    outcome = send(alert, sink_env(smtp_receiver, webhook_receiver))
    assert outcome == {"smtp": "sent", "webhook": "sent"}

    email = smtp_receiver.wait_for(lambda m: "close_day failed" in m, timeout=10)
    assert "Subject: [relief] claims_daily 2022-10-16: close_day failed" in email
    assert "To: ops@relief.test, finance@relief.test" in email
    hook = webhook_receiver.wait_for(lambda m: m.get("kind") == "task_failed", timeout=10)
    assert hook["fields"]["day"] == "2022-10-16" and "rejected by park" in hook["message"]
    for text in (email, str(hook)):
        assert ACCOUNT not in text and ACCOUNT.replace("-", "") not in text, text
        assert "8290" in text  # the last four digits, masked as everywhere else
        assert "T0KEN" not in text and smtp_receiver.address not in text  # no sink address in a message


def test_a_sink_that_is_down_does_not_raise(caplog):
    from etl.alerts import Alert, send

    env = {"RELIEF_ALERT_SMTP": f"127.0.0.1:{free_port()}", "RELIEF_ALERT_TO": "ops@relief.test"}
    outcome = send(Alert("task_failed", "x", "y"), env, timeout=2)
    assert outcome["smtp"].startswith("failed: ")
    assert send(Alert("task_failed", "nothing configured", "y"), {}) == {}
    assert "no alert sink configured" in caplog.text


def test_scrub_masks_numbers_but_not_dates_amounts_or_ids():
    from etl.alerts import scrub

    assert scrub(f"account {ACCOUNT}, phone 010-2222-3333") == "account ********8290, phone *******3333"
    kept = "2022-10-15 18:00 KST: 30,000 KRW, P1015-20221015-0000001, scheduled__2022-10-14T15:00:00+00:00"
    assert scrub(kept) == kept


def test_the_failure_notifier_as_airflow_calls_it(airflow_parse_env, webhook_receiver, monkeypatch):
    """etl/airflow_shared.py's ReliefNotifier is every task's on_failure_callback: called with the task's context."""
    import pendulum

    from etl.core.errors import InboxFileError

    for k, v in sink_env(webhook=webhook_receiver).items():
        monkeypatch.setenv(k, v)
    from etl.airflow_shared import ReliefNotifier

    context = {
        "ti": types.SimpleNamespace(dag_id="claims_daily", task_id="stage_claims", run_id="scheduled__2022-10-14T15"),
        "dag_run": types.SimpleNamespace(run_after=None),
        "logical_date": pendulum.datetime(2022, 10, 15, tz="Asia/Seoul"),
        "exception": InboxFileError("claims_20221015.csv: wrong header (line 1): missing column(s) receipt_no"),
    }
    ReliefNotifier("failed")(context)
    hook = webhook_receiver.wait_for(lambda m: m.get("kind") == "task_failed", timeout=10)
    assert hook["subject"] == "claims_daily 2022-10-15: stage_claims failed"
    assert "InboxFileError: claims_20221015.csv: wrong header" in hook["message"]


def test_the_approval_request_is_announced(airflow_parse_env, webhook_receiver, monkeypatch):
    """The approval's notifier (HITL `notifiers`): who must act, on which day, what is asked; no error field."""
    import pendulum

    for k, v in sink_env(webhook=webhook_receiver).items():
        monkeypatch.setenv(k, v)
    from etl.airflow_shared import ReliefNotifier

    context = {
        "ti": types.SimpleNamespace(dag_id="claims_daily", task_id="approve_payment_batch", run_id="r"),
        "task": types.SimpleNamespace(subject="2022-10-15: release the 1015 relief payment batch (2 payments)?"),
        "dag_run": types.SimpleNamespace(run_after=None),
        "logical_date": pendulum.datetime(2022, 10, 15, tz="Asia/Seoul"),
    }
    ReliefNotifier("awaits approval in Required actions")(context)
    hook = webhook_receiver.wait_for(lambda m: m.get("kind") == "approval_requested", timeout=10)
    assert hook["subject"] == "claims_daily 2022-10-15: approve_payment_batch awaits approval in Required actions"
    assert hook["message"].endswith("2022-10-15: release the 1015 relief payment batch (2 payments)?")
    assert "error" not in hook["fields"]


def test_the_deadline_callback_through_airflows_callback_trigger(smtp_receiver, webhook_receiver, monkeypatch):
    """A missed deadline, run as the triggerer runs it: CallbackTrigger(etl.alerts.deadline_missed)."""
    from airflow.triggers.callback import CallbackTrigger

    for k, v in sink_env(smtp_receiver, webhook_receiver).items():
        monkeypatch.setenv(k, v)
    context = {  # what Deadline.handle_miss gives the callback (DAGRunResponse, JSON mode)
        "dag_run": {
            "dag_id": "claims_daily",
            "dag_run_id": "scheduled__2022-10-14T15:00:00+00:00",
            "logical_date": "2022-10-14T15:00:00Z",
            "run_after": "2022-10-15T15:00:00Z",
            "state": "running",
        },
        "deadline": {"id": "d-1", "deadline_time": dt.datetime(2022, 10, 16, 9, 0, tzinfo=dt.UTC)},
    }
    trigger = CallbackTrigger("etl.alerts.deadline_missed", {"what": "the day's payment file", "context": context})

    async def events():
        return [e.payload async for e in trigger.run()]

    payloads = asyncio.run(events())
    states = [str(e.get("state")) for e in payloads]
    assert states[-1].lower().endswith("success"), states
    # Airflow stores the result in callback.output, a text column: a dict there crashed the triggerer (CI).
    from airflow.triggers.callback import PAYLOAD_BODY_KEY

    assert payloads[-1][PAYLOAD_BODY_KEY] == "smtp sent, webhook sent", payloads[-1]
    hook = webhook_receiver.wait_for(lambda m: m.get("kind") == "deadline_missed", timeout=10)
    assert hook["subject"] == "claims_daily 2022-10-15: the day's payment file not published by 2022-10-16 18:00 KST"
    assert "still running" in hook["message"]
    smtp_receiver.wait_for(lambda m: "not published by 2022-10-16 18:00 KST" in m, timeout=10)


def test_claims_daily_has_the_deadline_and_every_task_alerts_on_failure(dag_bag_of):
    from datetime import timedelta

    from airflow.sdk.definitions.deadline import DagRunLogicalDateDeadline

    for name in ("claims_daily", "grants_rollout"):
        dag = dag_bag_of(DAGS / f"{name}.py").dags[name]
        silent = [
            t.task_id
            for t in dag.tasks
            if not any(type(cb).__name__ == "ReliefNotifier" for cb in (t.on_failure_callback or []))
        ]
        assert not silent, f"{name}: tasks without the failure alert: {silent}"
    dag = dag_bag_of(DAGS / "claims_daily.py").dags["claims_daily"]
    [deadline] = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert isinstance(deadline.reference, DagRunLogicalDateDeadline)
    # 18:00 KST the day after the intake day: the logical date is the intake day's 00:00 KST.
    assert deadline.interval == timedelta(days=1, hours=18)
    assert deadline.callback.path == "etl.alerts.deadline_missed"
    approval = dag.get_task("approve_payment_batch")
    assert approval.response_timeout == timedelta(hours=24)
    assert [type(n).__name__ for n in approval.notifiers] == ["ReliefNotifier"]


def test_the_due_hour_is_configurable(tmp_path):
    """RELIEF_PAYMENT_DUE_HOUR (read when the DAG file is parsed) sets the deadline's hour; 18 by default."""
    import subprocess
    import sys

    from tests.dags.conftest import airflow_env

    probe = "import etl.airflow_shared as shared; print('DUE', shared.PAYMENT_DUE_HOUR)"
    for env_hour, expected in ((None, "18"), ("20", "20")):
        env = airflow_env(tmp_path)
        env.pop("RELIEF_PAYMENT_DUE_HOUR", None)
        if env_hour:
            env["RELIEF_PAYMENT_DUE_HOUR"] = env_hour
        out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
        assert f"DUE {expected}" in out.stdout, out.stderr[-2000:]
