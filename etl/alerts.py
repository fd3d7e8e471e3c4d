"""Alerts for the people who run the program: a task that failed, a payment file past its deadline, a batch
awaiting approval. Sent to the sinks the environment names, never anywhere else:

* `RELIEF_ALERT_SMTP=host:port` and `RELIEF_ALERT_TO=a@x,b@y` (`RELIEF_ALERT_FROM`, default
  `relief-alerts@localhost`): a plain-text email through that SMTP relay (no login: a relay inside the network);
* `RELIEF_ALERT_WEBHOOK=https://...`: the alert as JSON, POSTed (a chat room's incoming webhook, an on-call tool).

No sink configured: the alert is only logged. An alert names the program day, the DAG, the run and the task
with the error's message (ReliefError messages name files, lines and columns, never row content); every run of
six or more digits in it is masked to its last four (`etl.core.pii.mask_account`), so an account, phone or
business number typed into a rejection reason does not travel. The sinks' addresses are never put in a message.

Importing this module costs nothing (the standard library only, loaded when sending): the DAG files name
`etl.alerts.deadline_missed` for Airflow's deadline alerts, which the triggerer awaits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from etl.core.pii import mask_account

log = logging.getLogger(__name__)

ENV_SMTP = "RELIEF_ALERT_SMTP"
ENV_TO = "RELIEF_ALERT_TO"
ENV_FROM = "RELIEF_ALERT_FROM"
ENV_WEBHOOK = "RELIEF_ALERT_WEBHOOK"
KST = ZoneInfo("Asia/Seoul")
MAX_TEXT = 2000
TIMEOUT_S = 10.0

# A run of digits (hyphens inside allowed) that could be an account, phone or business number; not a part of a
# word, a payment id (`P1015-20221015-0000001`), a run id or a hash.
_NUMBER = re.compile(r"(?<![\w.-])\d(?:[\d-]*\d)?(?![\w.])")
_DATE_OR_TIME = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}(:\d{2})?")


@dataclass(frozen=True)
class Alert:
    """What is sent: a one-line subject, a text, and the facts as fields (for a webhook's JSON)."""

    kind: str  # task_failed, deadline_missed, approval_requested
    subject: str
    text: str
    fields: dict[str, str] = field(default_factory=dict)


def scrub(text: str) -> str:
    """Mask every run of six or more digits (an account, phone or business number) to its last four.

    Dates, times and amounts written with thousands separators (`30,000 KRW`) are left as they are.
    """

    def mask(m: re.Match[str]) -> str:
        token = m.group(0)
        digits = re.sub(r"\D", "", token)
        if len(digits) < 6 or _DATE_OR_TIME.fullmatch(token.strip()):
            return token
        return mask_account(digits)

    return _NUMBER.sub(mask, text)


def _clean(alert: Alert) -> Alert:
    text = scrub(alert.text)
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 20] + " … (cut; see the log)"
    return Alert(
        alert.kind,
        scrub(alert.subject)[:200],
        text,
        {k: scrub(str(v))[:MAX_TEXT] for k, v in alert.fields.items()},
    )


def configured_sinks(environ: Mapping[str, str] | None = None) -> list[str]:
    """The names of the sinks the environment configures: `smtp`, `webhook` (both, one or none)."""
    env = os.environ if environ is None else environ
    sinks = []
    if env.get(ENV_SMTP) and env.get(ENV_TO):
        sinks.append("smtp")
    if env.get(ENV_WEBHOOK):
        sinks.append("webhook")
    return sinks


def send(alert: Alert, environ: Mapping[str, str] | None = None, timeout: float = TIMEOUT_S) -> dict[str, str]:
    """Send an alert to every configured sink: {sink: "sent" or "failed: why"}. Never raises.

    The alert is logged (at WARNING) in any case, so the task's log or the triggerer's holds it too.
    """
    env = os.environ if environ is None else environ
    alert = _clean(alert)
    outcome: dict[str, str] = {}
    for sink in configured_sinks(env):
        try:
            if sink == "smtp":
                _send_email(alert, env, timeout)
            else:
                _post_webhook(alert, env[ENV_WEBHOOK], timeout)
            outcome[sink] = "sent"
        except Exception as exc:  # an alert that cannot be sent must not hide what it was about
            outcome[sink] = f"failed: {type(exc).__name__}"
    log.warning(
        "ALERT %s: %s (%s)",
        alert.kind,
        alert.subject,
        ", ".join(f"{k} {v}" for k, v in outcome.items()) or f"no alert sink configured ({ENV_SMTP}, {ENV_WEBHOOK})",
    )
    return outcome


def _send_email(alert: Alert, env: Mapping[str, str], timeout: float) -> None:
    import smtplib
    from email.message import EmailMessage

    host, _, port = env[ENV_SMTP].rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{ENV_SMTP} must be host:port")
    msg = EmailMessage()
    msg["Subject"] = f"[relief] {alert.subject}"
    msg["From"] = env.get(ENV_FROM) or "relief-alerts@localhost"
    msg["To"] = ", ".join(a.strip() for a in env[ENV_TO].split(",") if a.strip())
    facts = "\n".join(f"{k}: {v}" for k, v in alert.fields.items())
    msg.set_content(f"{alert.text}\n\n{facts}\n")
    with smtplib.SMTP(host, int(port), timeout=timeout) as smtp:
        smtp.send_message(msg)


def _post_webhook(alert: Alert, url: str, timeout: float) -> None:
    import urllib.request

    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{ENV_WEBHOOK} must be an http(s) URL")
    body = json.dumps({**asdict(alert), "text": f"{alert.subject}\n{alert.text}", "message": alert.text}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()


# ---------------------------------------------------------------------------------------------
# alerts from an Airflow context (read duck-typed: this module does not import Airflow)


def _kst(moment: Any) -> dt.datetime | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(KST)


def run_day(logical_date: Any, run_after: Any = None) -> str:
    """The program day of a run (its logical date in KST), as text; '?' when the run has neither date."""
    moment = _kst(logical_date) or _kst(run_after)
    return moment.date().isoformat() if moment else "?"


def task_failed(context: Mapping[str, Any], event: str = "failed") -> Alert:
    """A task that failed for good (no retry left, or a deterministic error): what, which day, why, where."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag_id = str(getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", "?"))
    task_id = str(getattr(ti, "task_id", "?"))
    run_id = str(getattr(ti, "run_id", None) or getattr(dag_run, "run_id", "?"))
    day = run_day(context.get("logical_date"), getattr(dag_run, "run_after", None))
    exc = context.get("exception")
    why = f"{type(exc).__name__}: {exc}" if exc is not None else "(no exception recorded)"
    log_url = ""
    try:
        log_url = str(getattr(ti, "log_url", "") or "")
    except Exception:  # the log URL needs Airflow's config; an alert goes without it
        log_url = ""
    fields = {"dag_id": dag_id, "day": day, "task_id": task_id, "run_id": run_id, "error": why}
    if log_url:
        fields["log"] = log_url
    return Alert(
        "task_failed",
        f"{dag_id} {day}: {task_id} {event}",
        f"{dag_id}, day {day}: task {task_id} {event}.\n{why}",
        fields,
    )


def deadline_alert(context: Mapping[str, Any] | None, what: str = "the day's payment file") -> Alert:
    """A missed deadline, from the small context Airflow's scheduler gives a deadline callback."""
    context = context or {}
    dag_run = context.get("dag_run") or {}
    deadline = context.get("deadline") or {}
    dag_id = str(dag_run.get("dag_id", "?"))
    day = run_day(dag_run.get("logical_date"), dag_run.get("run_after"))
    due = _kst(deadline.get("deadline_time"))
    due_text = f"{due:%Y-%m-%d %H:%M} KST" if due else "its deadline"
    state = str(dag_run.get("state", "?"))
    return Alert(
        "deadline_missed",
        f"{dag_id} {day}: {what} not published by {due_text}",
        f"{dag_id}, day {day}: {what} was due by {due_text} and the run is still {state}. Look at the run"
        " (a file not delivered, a batch awaiting approval in Required actions, a failed task).",
        {"dag_id": dag_id, "day": day, "run_id": str(dag_run.get("dag_run_id", "?")), "due": due_text, "state": state},
    )


async def deadline_missed(context: Mapping[str, Any] | None = None, what: str = "the day's payment file") -> str:
    """Airflow's deadline callback (an `AsyncCallback`, awaited by the triggerer): alert the sinks.

    Returns text: the triggerer stores the return value in `callback.output`, a text column. A dict there
    made the triggerer's commit fail ("type 'dict' is not supported" on SQLite) and the triggerer restart,
    failing the approval waiting in it (seen in CI: a day approved in the UI asked for approval again).
    """
    outcome = await asyncio.to_thread(send, deadline_alert(context, what))
    return ", ".join(f"{sink} {result}" for sink, result in outcome.items()) or "no alert sink configured"
