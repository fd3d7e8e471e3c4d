"""Operating claims_daily from the Airflow UI, checked through Airflow itself (dag.test per day, the approval
answered through Airflow's own HITL API, as the Required actions page does):

* a rejected day is recomputed by running it again, while the next day's run has failed fast in check_day;
  then the next day runs too ("clear the run to compute it again");
* the approval form names the intake day first and shows the batch's SHA-256, payments and KRW by basis,
  review queue and holds, cash paid so far, masked accounts and links; only the program's approvers are
  Airflow's assigned users (anyone else is refused by Airflow);
* a failed task's log says why first (before the traceback), names the day on its first line, and the
  failure is alerted (webhook on 127.0.0.1).
"""

from __future__ import annotations

import concurrent.futures
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from etl.core.config import DEFAULT_PROGRAM_FILE
from tests.builders import claim, claims_csv, make_brn
from tests.dags.conftest import AirflowHome

pytestmark = pytest.mark.airflow
HITL_RESPOND = Path(__file__).with_name("hitl_respond.py")
D1, D2 = "2022-10-15", "2022-10-16"
SMALL = make_brn(711)  # 100,000: the 30,000 tier
OTHER = make_brn(712)  # 400,000: the 50,000 tier
BIG = make_brn(713)  # 800,000: the council's review queue
ACCOUNT = "110-432-118290"


@pytest.fixture
def approvers(tmp_path) -> Path:
    overlay = tmp_path / "approvers.toml"
    overlay.write_text(
        f'extends = "{DEFAULT_PROGRAM_FILE}"\n\n[approval]\nauto_approve_payments = false\n'
        'approvers = ["kim.finance", "park.finance"]\n',
        encoding="utf-8",
    )
    return overlay


def respond(af: AirflowHome, option: str, user: str, reason: str = "") -> subprocess.CompletedProcess:
    """Answer the next approval awaiting input (waits for it), as USER: exit 0 answered, 3 refused by Airflow."""
    return subprocess.run(
        [sys.executable, str(HITL_RESPOND), option, user, "1", reason],
        env=af.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_day_answering(af: AirflowHome, day: str, *answers: tuple[str, str, str]):
    """Run one day through Airflow while the answers are given in order; returns (run, [answer outputs])."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        window = pool.submit(af.run_window, day, None, 300)
        outputs = []
        for option, user, reason in answers:
            done = respond(af, option, user, reason)
            outputs.append((done.returncode, done.stdout + done.stderr))
        return window.result(), outputs


def task_lines(output: str, task_id: str) -> list[str]:
    """The lines a task logged in a dag.test run's output (dag.test writes no log files), from its start on."""
    lines = output.splitlines()
    start = max(i for i, ln in enumerate(lines) if f"starting task_id={task_id} " in ln)
    return lines[start:]


def first(lines: list[str], *needles: str) -> int:
    """The index of the first line holding any of the needles (len(lines) if none does)."""
    return next((i for i, ln in enumerate(lines) if any(n in ln for n in needles)), len(lines))


TRACEBACK = ("Task failed with exception", "Traceback (most recent call last)")


def test_a_rejected_day_is_recomputed_while_the_next_day_failed_fast(airflow_home, ws, approvers):
    airflow_home.extra_env["RELIEF_PROGRAM"] = str(approvers)
    ws.deliver(
        D1,
        [
            claim(receipt_no="O1", business_reg_no=SMALL, claimed_loss_krw=100_000, account_no=ACCOUNT),
            claim(receipt_no="O2", business_reg_no=OTHER, claimed_loss_krw=400_000),
            claim(receipt_no="O3", business_reg_no=BIG, claimed_loss_krw=800_000),
        ],
    )
    ws.deliver(D2, [claim(receipt_no="O4", business_reg_no=make_brn(714), claimed_loss_krw=50_000)])

    # Day 1: mallory is not an approver: Airflow refuses her; park.finance rejects with a reason.
    run, answers = run_day_answering(
        airflow_home, D1, ("Approve", "mallory", ""), ("Reject", "park.finance", "payee names look wrong")
    )
    assert answers[0][0] == 3 and "refused 403" in answers[0][1], answers
    assert answers[1][0] == 0, answers
    assert run.states == {D1: "failed"}, run.tail()
    assert not (ws.settings.outbox / "payments" / D1).exists()

    # Day 2 runs meanwhile (the scheduler's next run): it fails fast in check_day, asking no one.
    run2 = airflow_home.run_window(D2, timeout=200)
    assert run2.states == {D2: "failed"}, run2.tail()
    assert f"cannot run {D2}: the intake day {D1} is not published" in run2.output

    # The check_day log: the day first, then the reason before any traceback.
    lines = task_lines(run2.output, "check_day")
    day_line = lines[first(lines, "claims_daily: intake day")]
    assert f"claims_daily: intake day {D2}. Airflow's dates for this run: logical date" in day_line, day_line
    assert "logical date 2022-10-16 00:00 KST (the day itself)" in day_line, day_line
    reason = first(lines, f"OutOfOrderRun: cannot run {D2}")
    assert first(lines, "claims_daily: intake day") < reason < first(lines, *TRACEBACK) < len(lines), lines[:60]

    # Clear day 1 (run it again): computed again, approved, published.
    run3, answers = run_day_answering(airflow_home, D1, ("Approve", "kim.finance", ""))
    assert run3.states == {D1: "success"}, run3.tail()
    assert sorted(p["amount_krw"] for p in ws.payments(D1)) == ["30000", "50000"]
    # Then the day that had failed fast: it runs now and asks for its own approval.
    run4, answers = run_day_answering(airflow_home, D2, ("Approve", "park.finance", ""))
    assert run4.states == {D2: "success"}, run4.tail()
    assert [p["amount_krw"] for p in ws.payments(D2)] == ["30000"]

    with ws.wh.begin() as conn:
        events = [
            (r[0], r[1])
            for r in conn.exec_driver_sql(
                "select run_date, event from ledger_events where event like 'batch_%' order by run_date, event_no"
            )
        ]
        approved = dict(conn.exec_driver_sql("select run_date, batch_sha256 from batch_approvals").fetchall())
    assert events == [(D1, "batch_rejected"), (D1, "batch_approved"), (D2, "batch_approved")], events

    # The approval form as Airflow keeps it (what Required actions shows), for the last day asked.
    with sqlite3.connect(airflow_home.home / "airflow.db") as db:
        forms = db.execute("select subject, body, assignees from hitl_detail").fetchall()
    subject, body, assignees = next(f for f in forms if f[0].startswith(D2))
    assert subject == f"{D2}: release the 1015 relief payment batch (1 payments, 30,000 KRW)?"
    assert [a["name"] for a in json.loads(assignees)] == ["kim.finance", "park.finance"]
    assert f"`{approved[D2]}`" in body  # the SHA-256 the approval recorded
    assert "| tier_30000 | 1 | 30,000 |" in body
    assert "review queue (awaiting the council; not in this batch) | 1 |" in body
    assert "80,000 KRW before this batch, 110,000 KRW with it" in body  # day 1's 30,000 + 50,000, net
    assert f"reports/{D2}/approval/payees.html" in body and f"reports/finance/{D2}/finance.html" in body
    assert f"reports/{D2}/data_docs/index.html" in body
    day1_forms = [f for f in forms if f[0].startswith(D1)]
    for text in [body, *(f[1] for f in day1_forms)]:
        assert ACCOUNT not in text and ACCOUNT.replace("-", "") not in text and SMALL not in text
    preview = (ws.settings.outbox / "reports" / D1 / "approval" / "payees.html").read_text(encoding="utf-8")
    assert "********8290" in preview and ACCOUNT.replace("-", "") not in preview and SMALL not in preview
    docs = ws.settings.outbox / "reports" / D1 / "data_docs" / "index.html"
    assert docs.read_text(encoding="utf-8").count("payments_batch</a>") == 2  # day 1 validated twice: both kept


def test_a_failed_task_says_why_first_and_is_alerted(airflow_home: AirflowHome, ws, webhook_receiver):
    """A header with a renamed and a moved column: the log's first error line names them; the alert says it."""
    good = claims_csv([claim(receipt_no="M-1")]).decode("utf-8")
    header, rest = good.split("\r\n", 1)
    cols = header.split(",")
    cols[0] = "receipt_id"  # receipt_no renamed
    cols[1], cols[2] = cols[2], cols[1]  # two columns swapped
    ws.deliver(D1, (",".join(cols) + "\r\n" + rest).encode("utf-8"))
    airflow_home.set_retries(0)
    airflow_home.extra_env.update(RELIEF_ALERT_WEBHOOK=webhook_receiver.address)
    run = airflow_home.run_window(D1, timeout=150)
    assert run.states == {D1: "failed"}, run.tail()

    lines = task_lines(run.output, "stage_claims")
    message = lines[first(lines, "InboxFileError: ")]
    assert "claims_20221015.csv: wrong header (line 1)" in message
    assert "missing column(s) receipt_no" in message and "misplaced:" in message and "unexpected: column 1" in message
    assert first(lines, f"claims_daily: intake day {D1}.") < first(lines, "InboxFileError: ") < first(lines, *TRACEBACK)
    assert first(lines, *TRACEBACK) < len(lines), lines[:60]

    alert = webhook_receiver.wait_for(lambda m: "stage_claims" in m.get("subject", ""), timeout=30)
    assert alert["subject"] == f"claims_daily {D1}: stage_claims failed"
    assert "InboxFileError: " in alert["message"] and "claims_20221015.csv: wrong header (line 1)" in alert["message"]
