"""The money loop end to end through Airflow, with a person approving each batch.

Over four days of claims_daily runs (dag.test, a real Airflow metadata database): a claim over
500,000 goes to review; the council approves it; finance approves the batch in the approval step
(answered through Airflow's own HITL API, as the Required actions page does); it is paid; the bank
returns it; the business sends new bank details; it is paid again; the reconciliation balances.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from etl.core.config import DEFAULT_PROGRAM_FILE
from tests.builders import claim, make_brn
from tests.dags.conftest import AirflowHome

pytestmark = pytest.mark.airflow
HITL_RESPOND = Path(__file__).with_name("hitl_respond.py")
BIG = make_brn(901)  # loss 900,000: council review
SMALL = make_brn(902)  # loss 100,000: the 30,000 tier


@pytest.fixture
def manual_approval(tmp_path) -> Path:
    """The 1015 program as shipped (automatic approval off), with kim.finance and park.finance among its
    approvers (Airflow lets only the approvers answer the approval: its assigned users)."""
    overlay = tmp_path / "manual.toml"
    overlay.write_text(
        f'extends = "{DEFAULT_PROGRAM_FILE}"\n\n[approval]\nauto_approve_payments = false\n'
        'approvers = ["admin", "kim.finance", "park.finance"]\n',
        encoding="utf-8",
    )
    return overlay


def test_someone_not_named_as_an_approver_cannot_release_a_batch(airflow_home, ws):
    """The shipped config names only admin: an approval by kim.finance fails the run and publishes nothing.

    Airflow itself refuses kim.finance (the approval's assigned users are the approvers: see
    test_operating.py); this is the check behind it, `record_approval`, for when Airflow lets anyone
    answer (the simple auth manager's all-admins mode here, or an auth manager whose user ids are not
    the user names).
    """
    airflow_home.extra_env["RELIEF_PROGRAM"] = str(DEFAULT_PROGRAM_FILE)
    airflow_home.extra_env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "True"
    ws.deliver("2022-10-15", [claim(receipt_no="M2", business_reg_no=SMALL, claimed_loss_krw=100_000)])
    run, _ = run_with_approvals(airflow_home, "2022-10-15", "2022-10-15", approvals=1)
    assert run.states == {"2022-10-15": "failed"}, run.tail()
    assert "is not one of the program's approvers" in run.tail()
    assert not (ws.settings.outbox / "payments" / "2022-10-15").exists()


def run_with_approvals(af: AirflowHome, first: str, last: str, approvals: int, *flags: str):
    """Run days through Airflow while a finance user answers `approvals` approval requests."""
    return run_answering(af, first, last, [*flags, "Approve", "kim.finance", str(approvals)])


def run_answering(af: AirflowHome, first: str, last: str, answers: list[str], timeout: float = 400):
    """Run days through Airflow while hitl_respond.py answers as `answers` (its arguments) say: the run, and what
    the responder printed. A run that hangs or fails shows the responder's output beside its own."""
    responder = subprocess.Popen(
        [sys.executable, str(HITL_RESPOND), *answers],
        env=af.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run = af.run_window(first, last, timeout=timeout)
    except (Exception, pytest.fail.Exception) as exc:  # a failed or hung run: say what the responder did
        raise AssertionError(f"the responder printed:\n{stop(responder)[-3000:]}") from exc
    return run, stop(responder)


def stop(responder: subprocess.Popen) -> str:
    """What the responder printed, after it exits (killed if it is still waiting)."""
    try:
        responder.wait(timeout=30)  # it exits once the task it answered runs again
    except subprocess.TimeoutExpired:
        responder.kill()
    out, err = responder.communicate()
    return out + err


def test_an_answer_whose_resume_dag_test_overwrote_is_resumed_not_lost(airflow_home, ws, manual_approval):
    """CI at stop 23 hung for 400 s, the approval answered and the task still awaiting input.

    dag.test() writes the parked state back over a task after it has parked itself; an answer given in
    between keeps its response but loses its resume. The responder does that to its first answer here
    (parks the task again after answering) and must then resume the task from it, as a triggerer would, once.
    """
    airflow_home.extra_env["RELIEF_PROGRAM"] = str(manual_approval)
    ws.deliver("2022-10-15", [claim(receipt_no="M2", business_reg_no=SMALL, claimed_loss_krw=100_000)])
    run, answers = run_with_approvals(airflow_home, "2022-10-15", "2022-10-15", 1, "--lose-first-resume")
    steps = [ln.split()[0] for ln in answers.splitlines() if ln.startswith(("responded", "resumed"))]
    assert steps == ["responded", "resumed"], answers
    assert run.states == {"2022-10-15": "success"}, run.tail()
    assert manifest(ws, "payments", "2022-10-15")["approved_by"].startswith("kim.finance"), answers


def manifest(ws, *parts) -> dict:
    return json.loads(ws.settings.outbox.joinpath(*parts, "manifest.json").read_text())


def test_review_approval_payment_return_and_repayment_through_airflow(airflow_home, ws, manual_approval):
    airflow_home.extra_env["RELIEF_PROGRAM"] = str(manual_approval)
    ws.deliver(
        "2022-10-15",
        [
            claim(receipt_no="M1", business_reg_no=BIG, claimed_loss_krw=900_000),
            claim(receipt_no="M2", business_reg_no=SMALL, claimed_loss_krw=100_000),
        ],
    )
    ws.deliver("2022-10-16", [])
    ws.deliver_decisions(
        "2022-10-16",
        [
            {
                "claimant_key": BIG,
                "decision": "approved",
                "approved_amount_krw": "700000",
                "decided_by": "council",
                "decided_at": "2022-10-16T15:00:00+09:00",
            }
        ],
    )

    run, answers = run_with_approvals(airflow_home, "2022-10-15", "2022-10-16", approvals=2)
    assert run.states == {"2022-10-15": "success", "2022-10-16": "success"}, run.tail()
    assert answers.count("responded") == 2, answers

    queue = ws.csv_rows("reviews", "2022-10-15", "review_queue.csv")
    assert [(q["claimant_key"], q["loss_krw"]) for q in queue] == [(BIG, "900000")]
    assert [(p["claimant_key"], p["amount_krw"]) for p in ws.payments("2022-10-15")] == [(SMALL, "30000")]
    [approved] = ws.payments("2022-10-16")
    assert (approved["claimant_key"], approved["amount_krw"], approved["basis"]) == (BIG, "700000", "review_approved")
    day2 = manifest(ws, "payments", "2022-10-16")
    assert day2["approved_by"].startswith("kim.finance") and day2["control_sum_krw"] == 700_000
    assert ws.csv_rows("reviews", "2022-10-16", "review_queue.csv") == []

    # Day 3: the bank returns the 700,000 (account closed) and settles the 30,000. Nothing to re-pay yet,
    # so the empty batch needs no person. Day 4: new bank details arrive; the 700,000 is paid again.
    ws.deliver("2022-10-17", [])
    ws.settings.inbox.joinpath("returns_20221017.csv").write_text(
        "payment_id,status,reason\r\n"
        f"{approved['payment_id']},returned,account closed\r\n"
        f"{ws.payments('2022-10-15')[0]['payment_id']},settled,\r\n",
        encoding="utf-8",
    )
    ws.deliver(
        "2022-10-18",
        [
            claim(
                receipt_no="M3",
                business_reg_no=BIG,
                service="talk_channel",
                claimed_loss_krw=50_000,
                account_no="356-0123-4567-89",
                received_at="2022-10-18T11:00:00+09:00",
            )
        ],
    )
    run, answers = run_with_approvals(airflow_home, "2022-10-17", "2022-10-18", approvals=1)
    assert run.states == {"2022-10-17": "success", "2022-10-18": "success"}, run.tail()

    assert ws.payments("2022-10-17") == []
    assert manifest(ws, "payments", "2022-10-17")["approved_by"] == "auto (no payments in the batch)"
    [repaid] = ws.payments("2022-10-18")
    assert (repaid["claimant_key"], repaid["amount_krw"], repaid["account_no"]) == (BIG, "700000", "3560123456789")
    assert manifest(ws, "payments", "2022-10-18")["approved_by"].startswith("kim.finance")

    rec = json.loads((ws.settings.outbox / "reports" / "2022-10-18" / "reconciliation.json").read_text())
    c = rec["cumulative"]
    assert rec["balanced"] is True
    assert c["issued"] == {"count": 3, "krw": 1_430_000}
    assert c["settled"] == {"count": 1, "krw": 30_000}
    assert c["returned"] == {"count": 1, "krw": 700_000}
    assert c["outstanding"] == {"count": 1, "krw": 700_000}
    assert c["issued"]["krw"] == c["settled"]["krw"] + c["returned"]["krw"] + c["outstanding"]["krw"]
    # Issue 10: paid_krw is net of returns (it counted the returned 700,000 as paid); issued stands beside it.
    cumulative = ws.summary("2022-10-18")["cumulative"]
    assert (cumulative["paid_krw"], cumulative["issued"]["krw"], cumulative["returned"]["krw"]) == (
        730_000,
        1_430_000,
        700_000,
    )


def test_a_rejected_batch_publishes_nothing_through_airflow(airflow_home, ws, manual_approval):
    airflow_home.extra_env["RELIEF_PROGRAM"] = str(manual_approval)
    ws.deliver("2022-10-15", [claim(receipt_no="J1", business_reg_no=SMALL)])
    reject = ["Reject", "park.finance", "1", "payee names do not match the claims"]
    run, _ = run_answering(airflow_home, "2022-10-15", "2022-10-15", reject, timeout=300)
    assert not (ws.settings.outbox / "payments" / "2022-10-15").exists(), run.tail()
    from etl.io.warehouse import Warehouse

    with Warehouse(ws.settings.db_url).begin() as conn:
        assert Warehouse.rows(conn, "day_payments", run_date="2022-10-15") == []  # the ledger as it was
        assert Warehouse.rows(conn, "day_run", run_date="2022-10-15")[0]["status"] == "rejected"
        decision = Warehouse.rows(conn, "batch_approval", run_date="2022-10-15")[0]
    # The rejection shows: the run fails (close_day), with who and why, kept in the warehouse.
    assert run.states == {"2022-10-15": "failed"}, run.tail()
    assert "rejected by park.finance: payee names do not match the claims" in run.tail()
    assert decision["decision"] == "rejected" and "payee names do not match the claims" in decision["decided_by"]
