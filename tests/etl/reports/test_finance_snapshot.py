"""The finance report's stored groups: kept per published day, regrouped in full when the day before has none,
and a stored day that disagrees with the ledger stops the publish. (That every stored day equals the full
grouping over random histories is an invariant of tests/etl/ledger/test_ledger_model.py.)"""

from __future__ import annotations

import datetime as dt

import pytest

from etl.core.errors import ReliefError
from etl.io.warehouse import Warehouse
from etl.reports.finance import finance_report, snapshot
from tests.builders import claim, make_brn

A, B = make_brn(301), make_brn(302)


def full(ws, name: str, day: str) -> list[dict]:
    with ws.wh.begin() as conn:
        rows = Warehouse.rows(conn, name, as_of=day, changed_after=snapshot.EVERY_BUSINESS, changed_until=day)
    return [{k: (int(v) if k in snapshot.GROUP_SUMS else v) for k, v in r.items()} for r in rows]


def stored(ws, name: str, day: str) -> list[dict]:
    with ws.wh.begin() as conn:
        return Warehouse.rows(conn, name, run_date=day)


def run_three_days(ws, program, before_third=lambda: None) -> None:
    ws.deliver("2022-10-15", [claim(receipt_no="R1", business_reg_no=A, claimed_loss_krw=100_000)])
    ws.run(program, "2022-10-15")
    second = "2022-10-16T09:00:00+09:00"
    ws.deliver("2022-10-16", [
        claim(receipt_no="R2", business_reg_no=A, claimed_loss_krw=300_000, service="talk_channel", received_at=second),
        claim(receipt_no="R3", business_reg_no=B, claimed_loss_krw=50_000, received_at=second),
    ])  # fmt: skip
    ws.run(program, "2022-10-16")
    before_third()
    third = "2022-10-17T09:00:00+09:00"
    ws.deliver("2022-10-17", [
        claim(receipt_no="R4", business_reg_no=A, claimed_loss_krw=100_000, service="talk_gift", received_at=third),
    ])  # fmt: skip
    ws.run(program, "2022-10-17")


def test_each_published_day_keeps_its_groups_and_the_report_reads_them(ws, program):
    run_three_days(ws, program)
    for day in ("2022-10-15", "2022-10-16", "2022-10-17"):
        assert stored(ws, "stored_finance_groups", day) == full(ws, "finance_payment_groups", day), day
        assert stored(ws, "stored_finance_losses", day) == full(ws, "finance_losses", day), day
    # A: 30,000 (loss 100,000), then 20,000 more (400,000 summed over two services: tier 50,000), then 500,000
    # (a third service): the review queue; B: 30,000.
    assert stored(ws, "stored_finance_groups", "2022-10-17") == [
        {"loss_krw": 50_000, "basis": "tier_30000", "status": None, "payments": 1, "krw": 30_000, "businesses": 1,
         "basis_businesses": 1},
        {"loss_krw": 500_000, "basis": "tier_30000", "status": None, "payments": 1, "krw": 30_000, "businesses": 1,
         "basis_businesses": 1},
        {"loss_krw": 500_000, "basis": "top_up", "status": None, "payments": 1, "krw": 20_000, "businesses": 0,
         "basis_businesses": 1},
    ]  # fmt: skip
    report = finance_report(ws.wh, program, dt.date(2022, 10, 17))
    assert report["businesses_paid"] == 2 and report["losses"]["businesses"] == 2


def test_a_day_after_one_without_stored_groups_is_grouped_in_full(ws, program):
    """A warehouse published before the groups were kept: the next day is grouped in full, then kept."""

    def forget_the_second_day() -> None:
        with ws.wh.begin() as conn:
            Warehouse.run(conn, "delete_finance_snapshot", run_date="2022-10-16")

    run_three_days(ws, program, forget_the_second_day)
    with ws.wh.begin() as conn:
        assert not snapshot.is_stored(conn, "2022-10-16") and snapshot.is_stored(conn, "2022-10-17")
        assert snapshot.payment_groups(conn, "2022-10-16") == full(ws, "finance_payment_groups", "2022-10-16")
    assert stored(ws, "stored_finance_groups", "2022-10-17") == full(ws, "finance_payment_groups", "2022-10-17")
    assert stored(ws, "stored_finance_losses", "2022-10-17") == full(ws, "finance_losses", "2022-10-17")


def test_stored_groups_that_disagree_with_the_ledger_stop_the_next_publish(ws, program):
    def lose_a_payment() -> None:
        with ws.wh.begin() as conn:
            conn.exec_driver_sql("update finance_groups set payments = 0, krw = 0, businesses = 0 where run_date = "
                                 "'2022-10-16' and basis = 'top_up'")  # fmt: skip

    with pytest.raises(ReliefError, match="go below zero"):
        run_three_days(ws, program, lose_a_payment)
    assert not (ws.settings.outbox / "payments" / "2022-10-17").exists()
    with ws.wh.begin() as conn:
        assert not snapshot.is_stored(conn, "2022-10-17")
        assert Warehouse.rows(conn, "latest_day_run", as_of="2022-10-17")[0]["run_date"] == "2022-10-16"


@pytest.mark.parametrize("query", ["finance_payment_groups", "finance_losses"])
def test_the_touched_businesses_groups_are_index_probes(ws, query):
    """The plan SQLite makes (from the schema alone: it keeps no statistics here) searches every big table by key
    and scans nothing once per row: a scan of the latest states per payment made a day's publish 7x slower."""
    import sqlite3

    from etl.io.sqlfiles import sql

    Warehouse(ws.settings.db_url)  # creates the schema
    with sqlite3.connect(ws.settings.db_url.removeprefix("sqlite:///")) as db:
        window = {"as_of": "2022-10-31", "changed_after": "2022-10-31", "changed_until": "2022-11-01"}
        plan = [row[-1] for row in db.execute(f"explain query plan {sql(query)}", window)]
    for table, alias in (("business_state", "s"), ("payments", "p"), ("touched_keys", "t")):
        assert not [step for step in plan if step.startswith((f"SCAN {table}", f"SCAN {alias} "))], plan
    assert any(step.startswith("SEARCH") and "business_state" in step for step in plan), plan
    assert not [step for step in plan if step.startswith("SCAN") and step.endswith("LEFT-JOIN")], plan
