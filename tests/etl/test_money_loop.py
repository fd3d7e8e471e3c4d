"""The money loop: maker-checker, bank returns and re-payment, reconciliation, fraud holds."""

from __future__ import annotations

import csv
import io
import json

import pytest

from etl.core.config import DEFAULT_PROGRAM_FILE, load_program
from etl.payments.approval import AwaitingApproval, record_decision
from tests.builders import claim, make_brn

BIZ = make_brn(11)


@pytest.fixture
def manual_program():
    """The 1015 program as shipped: automatic approval off (a person approves each batch); the demo overlay
    the other tests use differs from it only in its [approval] table."""
    return load_program(DEFAULT_PROGRAM_FILE)


def returns_csv(rows: list[tuple[str, str, str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(["payment_id", "status", "reason"])
    writer.writerows(rows)
    return buf.getvalue().encode()


def run(ws, program, day, approve=None):
    import datetime as dt

    from etl.daily import run_day

    return run_day(
        ws.settings, program, dt.date.fromisoformat(day), run_id=f"test__{day}", approve=approve, validate=False
    )


def test_without_approval_nothing_is_published_and_approving_releases_the_batch(ws, manual_program):
    ws.deliver("2022-10-15", [claim(receipt_no="R1", business_reg_no=BIZ)])
    with pytest.raises(AwaitingApproval, match="1 payments, control sum 30,000 KRW, largest 30,000 KRW"):
        run(ws, manual_program, "2022-10-15")
    assert not (ws.settings.outbox / "payments").exists()
    run(ws, manual_program, "2022-10-15", approve=True)
    manifest = json.loads((ws.settings.outbox / "payments" / "2022-10-15" / "manifest.json").read_text())
    assert manifest["approved_by"].startswith("relief run-day --approve")
    assert manifest["control_sum_krw"] == 30_000


def test_a_rejected_batch_publishes_nothing_and_leaves_the_ledger_as_it_was(ws, manual_program):
    import datetime as dt

    from etl.claims.stage import stage_day
    from etl.io.warehouse import Warehouse
    from etl.payments.compute import compute_day
    from etl.payments.publish import publish_day

    ws.deliver("2022-10-15", [claim(receipt_no="R1", business_reg_no=BIZ)])
    day = dt.date(2022, 10, 15)
    stage_day(ws.wh, ws.settings.inbox, manual_program, day, "r1")
    compute_day(ws.wh, ws.settings.inbox, manual_program, day)
    decided = record_decision(ws.wh, day, False, "park.finance")
    assert decided["decision"] == "rejected" and decided["payments"] == 1
    with Warehouse(ws.settings.db_url).begin() as conn:
        assert Warehouse.rows(conn, "day_payments", run_date="2022-10-15") == []
        assert Warehouse.rows(conn, "day_run", run_date="2022-10-15")[0]["status"] == "rejected"
    with pytest.raises(Exception, match="not been computed"):
        publish_day(ws.wh, ws.settings.outbox, manual_program, day, "r1", require_validation=False)
    assert not (ws.settings.outbox / "payments").exists()
    # Computed again and approved, the same batch goes out.
    run(ws, manual_program, "2022-10-15", approve=True)
    assert [p["amount_krw"] for p in ws.payments("2022-10-15")] == ["30000"]


def test_an_approval_covers_only_the_batch_it_saw(ws, manual_program):
    import datetime as dt

    from etl.claims.stage import stage_day
    from etl.io.warehouse import Warehouse
    from etl.payments.approval import require_approval
    from etl.payments.compute import compute_day

    ws.deliver("2022-10-15", [claim(receipt_no="R1", business_reg_no=BIZ)])
    day = dt.date(2022, 10, 15)
    stage_day(ws.wh, ws.settings.inbox, manual_program, day, "r1")
    compute_day(ws.wh, ws.settings.inbox, manual_program, day)
    record_decision(ws.wh, day, True, "kim.finance")
    with Warehouse(ws.settings.db_url).begin() as conn:  # the batch changes after approval
        conn.exec_driver_sql("update payments set amount_krw = 31000 where run_date = '2022-10-15'")
    with pytest.raises(AwaitingApproval, match="changed after it was approved"):
        require_approval(ws.wh, day)


def test_a_returned_payment_is_paid_again_once_new_bank_details_arrive(ws, program):
    ws.deliver("2022-10-15", [claim(receipt_no="R1", business_reg_no=BIZ, claimed_loss_krw=400_000)])
    run(ws, program, "2022-10-15")
    [first] = ws.payments("2022-10-15")
    assert first["amount_krw"] == "50000"

    ws.deliver("2022-10-16", [])
    ws.settings.inbox.joinpath("returns_20221016.csv").write_bytes(
        returns_csv([(first["payment_id"], "returned", "account closed"), ("P1015-20990101-0000001", "settled", "")])
    )
    run(ws, program, "2022-10-16")
    assert ws.payments("2022-10-16") == []  # the same account is not paid again
    rec = json.loads((ws.settings.outbox / "reports" / "2022-10-16" / "reconciliation.json").read_text())
    assert rec["cumulative"]["returned"] == {"count": 1, "krw": 50_000}
    assert rec["balanced"] is True
    errors = ws.csv_rows("reports", "2022-10-16", "returns_errors.csv")
    assert [(e["payment_id"], e["reason"]) for e in errors] == [("P1015-20990101-0000001", "unknown_payment")]
    assert ws.summary("2022-10-16")["open"]["awaiting_bank_details"] == 1

    ws.deliver(
        "2022-10-17",
        [
            claim(
                receipt_no="R2",
                business_reg_no=BIZ,
                service="talk_channel",
                claimed_loss_krw=10_000,
                account_no="333-22-111111",
                received_at="2022-10-17T09:00:00+09:00",
            )
        ],
    )
    run(ws, program, "2022-10-17")
    [again] = ws.payments("2022-10-17")
    assert (again["amount_krw"], again["account_no"], again["basis"]) == ("50000", "33322111111", "tier_50000")

    ws.deliver("2022-10-18", [])
    ws.settings.inbox.joinpath("returns_20221018.csv").write_bytes(returns_csv([(again["payment_id"], "settled", "")]))
    run(ws, program, "2022-10-18")
    rec = json.loads((ws.settings.outbox / "reports" / "2022-10-18" / "reconciliation.json").read_text())
    c = rec["cumulative"]
    assert c["issued"] == {"count": 2, "krw": 100_000}
    assert c["settled"] == {"count": 1, "krw": 50_000} and c["returned"] == {"count": 1, "krw": 50_000}
    assert c["outstanding"] == {"count": 0, "krw": 0}
    assert rec["day"]["settled"] == {"count": 1, "krw": 50_000}


def test_one_account_on_too_many_businesses_holds_them_all(ws, program):
    shared = {"bank_code": "004", "account_no": "402-21-0918-771", "account_holder": "이대포"}
    limit = program.max_businesses_per_account
    rows = [claim(receipt_no=f"R{i}", business_reg_no=make_brn(100 + i), **shared) for i in range(limit + 1)]
    rows.append(claim(receipt_no="OK", business_reg_no=make_brn(500)))
    ws.deliver("2022-10-15", rows)
    run(ws, program, "2022-10-15")
    assert [p["claimant_key"] for p in ws.payments("2022-10-15")] == [make_brn(500)]
    holds = ws.csv_rows("reviews", "2022-10-15", "holds.csv")
    assert {h["claimant_key"] for h in holds} == {make_brn(100 + i) for i in range(limit + 1)}
    assert all(h["reason"] == "shared_account" and "0918771"[-4:] in h["detail"] for h in holds)
    assert all("4020918" not in h["detail"] for h in holds)  # the account number is masked
    assert ws.summary("2022-10-15")["open"]["held_for_review"] == limit + 1

    # The council releases one of them: the approved amount is paid.
    ws.deliver("2022-10-16", [])
    ws.deliver_decisions(
        "2022-10-16",
        [
            {
                "claimant_key": make_brn(100),
                "decision": "approved",
                "approved_amount_krw": "30000",
                "decided_by": "council",
                "decided_at": "2022-10-16T10:00:00+09:00",
            }
        ],
    )
    run(ws, program, "2022-10-16")
    assert [(p["claimant_key"], p["basis"]) for p in ws.payments("2022-10-16")] == [(make_brn(100), "review_approved")]


def test_one_account_on_as_many_businesses_as_the_limit_holds_none(ws, program):
    # The limit is "at most": shared_accounts.sql returns only accounts over it (the boundary is in the SQL).
    shared = {"bank_code": "004", "account_no": "402-21-0918-771", "account_holder": None}
    limit = program.max_businesses_per_account
    rows = [claim(receipt_no=f"R{i}", business_reg_no=make_brn(100 + i), **shared) for i in range(limit)]
    ws.deliver("2022-10-15", rows)
    run(ws, program, "2022-10-15")
    assert ws.csv_rows("reviews", "2022-10-15", "holds.csv") == []
    paid = sorted(p["claimant_key"] for p in ws.payments("2022-10-15"))
    assert paid == sorted(make_brn(100 + i) for i in range(limit))


def test_the_same_holder_and_phone_under_two_business_numbers_is_a_suspected_duplicate(ws, program):
    ws.deliver(
        "2022-10-15",
        [
            claim(receipt_no="R1", business_reg_no=make_brn(7), phone="010-5555-0101", account_holder="최수상"),
            claim(
                receipt_no="R2",
                business_reg_no=make_brn(8),
                phone="01055550101",
                account_holder="최수상",
                service="talk_channel",
            ),
        ],
    )
    run(ws, program, "2022-10-15")
    assert ws.payments("2022-10-15") == []
    holds = ws.csv_rows("reviews", "2022-10-15", "holds.csv")
    assert sorted((h["claimant_key"], h["reason"]) for h in holds) == [
        (make_brn(7), "suspected_duplicate"),
        (make_brn(8), "suspected_duplicate"),
    ]


def test_close_day_acts_only_on_a_reject(ws, program):
    """claims_daily's close_day runs whenever publish did not fail: only an actual Reject discards and fails."""
    import datetime as dt

    from etl.payments.approval import BatchRejected, close_rejected_day

    day = dt.date(2022, 10, 15)
    assert close_rejected_day(ws.wh, day, None) == "no rejection: nothing to discard"
    ws.deliver("2022-10-15", [claim(receipt_no="R1", business_reg_no=BIZ)])
    from etl.claims.stage import stage_day
    from etl.payments.compute import compute_day

    stage_day(ws.wh, ws.settings.inbox, program, day, "r1")
    compute_day(ws.wh, ws.settings.inbox, program, day)
    response = {
        "chosen_options": ["Reject"],
        "params_input": {"reason": "wrong payees"},
        "responded_by_user": {"name": "park.finance", "id": "park.finance"},
    }
    with pytest.raises(BatchRejected, match="rejected by park.finance: wrong payees"):
        close_rejected_day(ws.wh, day, response)


def test_a_business_held_for_two_reasons_is_one_row_of_holds_csv(ws, program):
    """Seen in review: a business held both for a shared account and as a suspected duplicate had two rows,
    so holds.xlsx's totals and the manifest's count counted it and its loss twice."""
    shared = {"bank_code": "004", "account_no": "402-21-0918-771", "account_holder": "최수상", "phone": "010-5555-0101"}
    limit = program.max_businesses_per_account
    rows = [claim(receipt_no=f"R{i}", business_reg_no=make_brn(100 + i), **shared) for i in range(limit + 1)]
    ws.deliver("2022-10-15", rows)
    run(ws, program, "2022-10-15")
    holds = ws.csv_rows("reviews", "2022-10-15", "holds.csv")
    assert sorted(h["claimant_key"] for h in holds) == sorted(make_brn(100 + i) for i in range(limit + 1))
    assert {h["reason"] for h in holds} == {"shared_account; suspected_duplicate"}
    manifest = json.loads((ws.settings.outbox / "reviews" / "2022-10-15" / "manifest.json").read_text())
    assert manifest["holds"] == limit + 1


def test_a_business_over_the_threshold_held_for_two_reasons_is_one_row_of_the_review_queue(ws, program):
    """A business held for two reasons is one row of review_queue.csv (one per business, CONTRACT.md), and the
    summary's review queue counts it once."""
    shared = {"bank_code": "004", "account_no": "402-21-0918-771", "account_holder": "최수상", "phone": "010-5555-0101"}
    limit = program.max_businesses_per_account
    rows = [
        claim(receipt_no=f"R{i}", business_reg_no=make_brn(100 + i), claimed_loss_krw=900_000, **shared)
        for i in range(limit + 1)
    ]
    ws.deliver("2022-10-15", rows)
    run(ws, program, "2022-10-15")
    queue = ws.csv_rows("reviews", "2022-10-15", "review_queue.csv")
    assert sorted(q["claimant_key"] for q in queue) == sorted(make_brn(100 + i) for i in range(limit + 1))
    assert {q["hold"] for q in queue} == {"shared_account; suspected_duplicate"}
