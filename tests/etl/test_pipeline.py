"""The daily pipeline over several days, on the embedded SQLite warehouse (and PostgreSQL where marked)."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat

import pytest

from etl.core.errors import InboxFileError, OutOfOrderRun, ReliefError, ValidationFailed
from tests.builders import claim, make_brn

BIZ = make_brn(1)
OTHER = make_brn(2)


def assert_reconciles(summary: dict) -> None:
    for scope in ("day", "cumulative"):
        c = summary[scope]
        assert c["rows_received"] == c["accepted"] + c["duplicates"] + c["excluded"] + c["quarantined"], scope
        assert c["reports_received"] == c["reports_kakao"] + c["reports_affiliate"], scope
        assert sum(c["by_claimant_type"].values()) == c["reports_kakao"], scope
        assert sum(c["by_damage"].values()) == c["reports_kakao"], scope


def paid_by_business(ws, days) -> dict[str, int]:
    totals: dict[str, int] = {}
    for day in days:
        for p in ws.payments(day):
            totals[p["claimant_key"]] = totals.get(p["claimant_key"], 0) + int(p["amount_krw"])
    return totals


def three_day_story(ws) -> list[str]:
    """A business rises from the 30,000 tier to the 50,000 tier, then resubmits lower."""
    ws.deliver(
        "2022-10-15",
        [
            claim(receipt_no="A1", business_reg_no=BIZ, claimed_loss_krw=270_000),
            claim(
                receipt_no="A2",
                claimant_type="individual",
                business_reg_no="",
                kakao_account_id="jimin",
                monetary_loss="false",
                claimed_loss_krw="",
            ),
            claim(receipt_no="A3", business_reg_no=OTHER, service="kakao_t", claimed_loss_krw=150_000),
            claim(receipt_no="A4", business_reg_no="2118607718"),  # bad check digit: quarantined
            claim(receipt_no="A5", claimant_type="enterprise", business_reg_no=make_brn(3), claimed_loss_krw=9_000_000),
        ],
    )
    ws.deliver(
        "2022-10-16",
        [
            claim(receipt_no="A1", business_reg_no=BIZ, claimed_loss_krw=270_000),  # re-delivery
            claim(
                receipt_no="B1", business_reg_no=BIZ, claimed_loss_krw=320_000, received_at="2022-10-16T09:00:00+09:00"
            ),  # resubmission, same service: lifts the tier
        ],
    )
    ws.deliver(
        "2022-10-17",
        [
            claim(
                receipt_no="C1",
                business_reg_no=f"{BIZ[:3]}-{BIZ[3:5]}-{BIZ[5:]}",
                claimed_loss_krw=100_000,
                received_at="2022-10-17T09:00:00+09:00",
            ),  # a lower resubmission
        ],
    )
    return ["2022-10-15", "2022-10-16", "2022-10-17"]


@pytest.mark.parametrize("workspace", ["ws", pytest.param("pg_ws", marks=pytest.mark.postgres)])
def test_a_business_lifted_into_a_higher_tier_is_paid_only_the_difference(request, program, workspace):
    ws = request.getfixturevalue(workspace)
    days = three_day_story(ws)
    for day in days:
        ws.run(program, day)

    day1, day2, day3 = (ws.payments(d) for d in days)
    assert [(p["claimant_key"], p["amount_krw"], p["basis"]) for p in day1] == [(BIZ, "30000", "tier_30000")]
    assert [(p["claimant_key"], p["amount_krw"], p["basis"]) for p in day2] == [(BIZ, "20000", "top_up")]
    assert day3 == []  # a lower resubmission pays nothing and claws nothing back
    assert day1[0]["payment_id"] == "P1015-20221015-0000001"
    assert day1[0]["account_no"].isdigit() and day1[0]["run_date"] == "2022-10-15"
    assert paid_by_business(ws, days) == {BIZ: 50_000}  # never more than the highest entitlement

    s1 = ws.summary("2022-10-15")
    assert s1["day"]["quarantined"] == 1 and s1["day"]["quarantined_by_reason"] == {"bad_check_digit": 1}
    assert s1["day"]["reports_affiliate"] == 1 and s1["day"]["by_claimant_type"]["enterprise"] == 1
    s2 = ws.summary("2022-10-16")
    assert s2["day"]["duplicates"] == 1 and s2["day"]["reports_received"] == 1
    s3 = ws.summary("2022-10-17")
    assert s3["cumulative"]["reports_received"] == 6  # A1,A2,A3,A5,B1,C1: resubmissions are reports
    assert s3["cumulative"]["rows_received"] == 8
    assert s3["cumulative"]["payments"] == 2 and s3["cumulative"]["paid_krw"] == 50_000
    for day in days:
        assert_reconciles(ws.summary(day))


def test_a_rerun_of_any_day_reproduces_its_payment_file_byte_for_byte(ws, program):
    days = three_day_story(ws)
    for day in days:
        ws.run(program, day)
    before = {d: (ws.settings.outbox / "payments" / d / "payments.csv").read_bytes() for d in days}
    for day in ("2022-10-15", "2022-10-16", "2022-10-15", "2022-10-17"):
        ws.run(program, day)
        assert (ws.settings.outbox / "payments" / day / "payments.csv").read_bytes() == before[day]
    assert ws.summary("2022-10-17")["cumulative"]["paid_krw"] == 50_000


def test_sqlite_and_postgres_write_the_same_payment_files(request, program):
    pg = request.getfixturevalue("pg_ws")
    lite = request.getfixturevalue("ws")
    for ws in (lite, pg):
        for day in three_day_story(ws):
            ws.run(program, day)
    for day in ("2022-10-15", "2022-10-16"):
        a = (lite.settings.outbox / "payments" / day / "payments.csv").read_bytes()
        b = (pg.settings.outbox / "payments" / day / "payments.csv").read_bytes()
        assert a == b and len(a) > 200


def test_the_latest_delivery_of_a_receipt_wins_but_counts_once(ws, program):
    ws.deliver("2022-10-15", [claim(receipt_no="R1", claimed_loss_krw=100_000)])
    ws.deliver("2022-10-16", [claim(receipt_no="R1", claimed_loss_krw=400_000)])
    ws.run(program, "2022-10-15")
    ws.run(program, "2022-10-16")
    assert [(p["amount_krw"], p["basis"]) for p in ws.payments("2022-10-16")] == [("20000", "top_up")]
    cumulative = ws.summary("2022-10-16")["cumulative"]
    assert cumulative["reports_received"] == 1 and cumulative["duplicates"] == 1


@pytest.mark.parametrize("workspace", ["ws", pytest.param("pg_ws", marks=pytest.mark.postgres)])
def test_a_receipt_redelivered_under_another_business_leaves_the_first_one(request, program, workspace):
    """compute recomputes a re-delivered receipt's earlier business (previous_versions.sql, from the lines staging
    marked as re-deliveries): without it BIZ would stay in the review queue with a claim that is now OTHER's."""
    ws = request.getfixturevalue(workspace)
    over = {"receipt_no": "R1", "claimed_loss_krw": 600_000}  # over the review threshold: in the queue
    ws.deliver("2022-10-15", [claim(business_reg_no=BIZ, **over), claim(receipt_no="R2", business_reg_no=make_brn(7))])
    ws.deliver("2022-10-16", [claim(business_reg_no=OTHER, **over)])
    for day in ("2022-10-15", "2022-10-16"):
        ws.run(program, day)
    assert [q["claimant_key"] for q in ws.csv_rows("reviews", "2022-10-15", "review_queue.csv")] == [BIZ]
    assert [q["claimant_key"] for q in ws.csv_rows("reviews", "2022-10-16", "review_queue.csv")] == [OTHER]
    assert ws.summary("2022-10-16")["cumulative"]["duplicates"] == 1


def test_a_repeated_receipt_within_one_file_counts_once(ws, program):
    ws.deliver("2022-10-15", [claim(receipt_no="R1"), claim(receipt_no="R1", claimed_loss_krw=350_000)])
    ws.run(program, "2022-10-15")
    s = ws.summary("2022-10-15")["day"]
    assert (s["accepted"], s["duplicates"], s["reports_received"]) == (1, 1, 1)
    assert [p["amount_krw"] for p in ws.payments("2022-10-15")] == ["50000"]  # the later line wins


def test_affiliate_claims_are_excluded_and_listed_with_their_operator(ws, program):
    ws.deliver(
        "2022-10-15",
        [
            claim(receipt_no="X1", service="kakao_t"),
            claim(receipt_no="X2", service="melon", business_reg_no=OTHER),
            claim(receipt_no="K1", service="kakaotalk"),
        ],
    )
    ws.run(program, "2022-10-15")
    listed = ws.csv_rows("exclusions", "2022-10-15", "affiliate_claims.csv")
    assert [(r["receipt_no"], r["operator"]) for r in listed] == [
        ("X2", "Kakao Entertainment"),
        ("X1", "Kakao Mobility"),
    ]
    assert listed[1]["received_at"] == "2022-10-15T10:00:00+09:00"
    manifest = json.loads((ws.settings.outbox / "exclusions" / "2022-10-15" / "manifest.json").read_text())
    assert manifest["by_operator"] == {"Kakao Entertainment": 1, "Kakao Mobility": 1}
    assert [p["claimant_key"] for p in ws.payments("2022-10-15")] == [BIZ]  # affiliate losses never pay


def test_bank_details_arriving_later_release_the_payment(ws, program):
    ws.deliver("2022-10-15", [claim(receipt_no="R1", bank_code="", account_no="", account_holder="")])
    ws.deliver("2022-10-16", [])
    ws.deliver(
        "2022-10-17",
        [
            claim(
                receipt_no="R2",
                service="talk_channel",
                claimed_loss_krw=50_000,
                received_at="2022-10-17T09:00:00+09:00",
            )
        ],
    )
    ws.deliver(
        "2022-10-18",
        [
            claim(
                receipt_no="R3",
                service="kakao_map",
                claimed_loss_krw=10_000,
                bank_code="",
                account_no="",
                received_at="2022-10-18T09:00:00+09:00",
            )
        ],
    )
    for day in ("2022-10-15", "2022-10-16", "2022-10-17", "2022-10-18"):
        ws.run(program, day)
    assert ws.payments("2022-10-15") == [] and ws.payments("2022-10-16") == []
    assert ws.summary("2022-10-16")["open"]["awaiting_bank_details"] == 1
    assert [(p["amount_krw"], p["basis"]) for p in ws.payments("2022-10-17")] == [("30000", "tier_30000")]
    # Day 4: total 160,000, still the 30,000 tier; the claim without bank details erases nothing.
    assert ws.payments("2022-10-18") == []
    assert ws.summary("2022-10-18")["open"]["awaiting_bank_details"] == 0


def test_over_the_threshold_goes_to_review_and_pays_what_the_council_approved(ws, program):
    ws.deliver(
        "2022-10-15",
        [
            claim(receipt_no="R1", claimed_loss_krw=1_200_000),
            claim(receipt_no="R2", business_reg_no=OTHER, claimed_loss_krw=100_000),
        ],
    )
    ws.run(program, "2022-10-15")
    queue = ws.csv_rows("reviews", "2022-10-15", "review_queue.csv")
    assert [(q["claimant_key"], q["loss_krw"], q["pending_since"]) for q in queue] == [(BIZ, "1200000", "2022-10-15")]
    assert queue[0]["receipt_nos"] == "R1" and queue[0]["services"] == "kakaotalk" and queue[0]["proof_required"]
    assert [p["claimant_key"] for p in ws.payments("2022-10-15")] == [OTHER]

    ws.deliver("2022-10-16", [])
    ws.deliver_decisions(
        "2022-10-16",
        [
            {
                "claimant_key": BIZ,
                "decision": "approved",
                "approved_amount_krw": "400000",
                "decided_by": "council",
                "decided_at": "2022-10-16T10:00:00+09:00",
            },
            {
                "claimant_key": OTHER,
                "decision": "approved",
                "approved_amount_krw": "90000",
                "decided_by": "council",
                "decided_at": "2022-10-16T10:00:00+09:00",
            },
            {
                "claimant_key": make_brn(99),
                "decision": "approved",
                "approved_amount_krw": "1",
                "decided_by": "council",
                "decided_at": "2022-10-16T10:00:00+09:00",
            },
            {
                "claimant_key": BIZ,
                "decision": "approved",
                "approved_amount_krw": "0",
                "decided_by": "council",
                "decided_at": "2022-10-16T11:00:00+09:00",
            },
        ],
    )
    ws.run(program, "2022-10-16")
    assert [(p["claimant_key"], p["amount_krw"], p["basis"]) for p in ws.payments("2022-10-16")] == [
        (BIZ, "400000", "review_approved")
    ]
    assert ws.csv_rows("reviews", "2022-10-16", "review_queue.csv") == []
    errors = ws.csv_rows("reviews", "2022-10-16", "decisions_errors.csv")
    # A decision on a business under the threshold is recorded, not refused (issue 10): it stands only
    # if the business later rises over the threshold.
    assert sorted(e["reason"] for e in errors) == ["bad_amount", "unknown_claimant"]


def test_a_day_cannot_run_before_an_earlier_delivered_day(ws, program):
    ws.deliver("2022-10-15", [claim(receipt_no="R1")])
    ws.deliver("2022-10-16", [claim(receipt_no="R2", business_reg_no=OTHER)])
    with pytest.raises(OutOfOrderRun, match="2022-10-15"):
        ws.run(program, "2022-10-16")


def test_a_malformed_file_stops_the_day_and_publishes_nothing(ws, program):
    ws.deliver("2022-10-15", b"receipt_no,received_at\nR1,2022-10-15T10:00:00+09:00\n")
    with pytest.raises(InboxFileError, match="claims_20221015.csv.*wrong header"):
        ws.run(program, "2022-10-15")
    assert not ws.settings.outbox.exists() or not any(ws.settings.outbox.rglob("*.csv"))
    ws.deliver("2022-10-15", b"")
    with pytest.raises(InboxFileError, match="empty"):
        ws.run(program, "2022-10-15")


def test_a_header_only_file_is_a_day_without_claims(ws, program):
    ws.deliver("2022-10-15", [])
    ws.run(program, "2022-10-15")
    assert ws.payments("2022-10-15") == []
    assert ws.summary("2022-10-15")["day"]["rows_received"] == 0


def test_a_published_day_is_not_rerun_on_changed_input(ws, program):
    ws.deliver("2022-10-15", [claim(receipt_no="R1")])
    ws.run(program, "2022-10-15")
    ws.deliver("2022-10-15", [claim(receipt_no="R1", claimed_loss_krw=999)])
    with pytest.raises(ReliefError, match="changed since"):
        ws.run(program, "2022-10-15")


def test_outbox_files_are_complete_and_not_world_readable(ws, program):
    ws.deliver("2022-10-15", [claim(receipt_no="R1")])
    ws.run(program, "2022-10-15")
    for kind in ("payments", "reviews", "exclusions", "quarantine", "reports"):
        folder = ws.settings.outbox / kind / "2022-10-15"
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["program"] == "kakao-1015" and manifest["config_sha256"] == program.sha256
        assert manifest["run_id"] == "test__2022-10-15"
        names = {p.name for p in folder.iterdir()}
        assert names == set(manifest["files"]) | {"manifest.json"}, kind  # no temp files left behind
        for path in folder.iterdir():
            assert stat.S_IMODE(os.stat(path).st_mode) & 0o007 == 0, path
        assert stat.S_IMODE(os.stat(folder).st_mode) & 0o007 == 0
    pay = json.loads((ws.settings.outbox / "payments" / "2022-10-15" / "manifest.json").read_text())
    assert (pay["rows"], pay["control_sum_krw"]) == (1, 30_000)
    assert pay["sha256"] == pay["files"]["payments.csv"]["sha256"]


def test_a_failed_hard_check_stops_publishing_and_keeps_the_results(ws, program):
    """A batch the payments suite refuses (here a basis no rule gives) publishes nothing; results are kept."""
    from etl.claims.stage import stage_day
    from etl.payments.compute import compute_day
    from etl.quality.validate import validate_day_claims, validate_day_payments

    ws.deliver("2022-10-15", [claim(receipt_no="R1")])
    day = dt.date(2022, 10, 15)
    stage_day(ws.wh, ws.settings.inbox, program, day, "r1")
    validate_day_claims(ws.wh, program, day)
    compute_day(ws.wh, ws.settings.inbox, program, day)
    with ws.wh.begin() as conn:
        conn.exec_driver_sql("update payments set basis = 'tier_99999'")
    with pytest.raises(ValidationFailed, match="payments_batch"):
        validate_day_payments(ws.wh, program, day)
    assert not (ws.settings.outbox / "payments" / "2022-10-15").exists()
    from etl.io.warehouse import Warehouse

    with Warehouse(ws.settings.db_url).begin() as conn:
        results = Warehouse.rows(conn, "validation_results", run_date="2022-10-15")
    assert {(r["suite"], r["success"]) for r in results} == {("claims_staged", 1), ("payments_batch", 0)}
    # The next day cannot run past an unpublished day.
    ws.deliver("2022-10-16", [])
    with pytest.raises(OutOfOrderRun):
        ws.run(program, "2022-10-16", validate=True)


def test_an_approval_above_the_cap_is_held_until_a_person_releases_it(ws, program, capsys):
    """Issue 10: the day goes on without it; over_cap.csv names the business, amount and cap; a release pays it."""
    from etl.cli import main

    ws.deliver(
        "2022-10-15",
        [claim(receipt_no="R1", claimed_loss_krw=90_000_000), claim(receipt_no="R2", business_reg_no=OTHER)],
    )
    ws.run(program, "2022-10-15", validate=True)
    over = program.max_payment_krw + 1
    ws.deliver("2022-10-16", [])
    ws.deliver_decisions(
        "2022-10-16",
        [
            {
                "claimant_key": BIZ,
                "decision": "approved",
                "approved_amount_krw": str(over),
                "decided_by": "council",
                "decided_at": "2022-10-16T10:00:00+09:00",
            },
        ],
    )
    ws.run(program, "2022-10-16", validate=True)
    assert ws.payments("2022-10-16") == []
    held = ws.csv_rows("reviews", "2022-10-16", "over_cap.csv")
    assert [(h["claimant_key"], h["amount_krw"], h["cap_krw"]) for h in held] == [
        (BIZ, str(over), str(program.max_payment_krw))
    ]
    assert ws.summary("2022-10-16")["open"]["over_cap_awaiting_release_krw"] == over
    io = ["--db", ws.settings.db_url, "--inbox", str(ws.settings.inbox), "--outbox", str(ws.settings.outbox)]
    assert main(["release", BIZ, "5", "--by", "kim.finance", "--reason", "council minutes 7", *io]) == 1
    assert main(["release", BIZ, str(over), "--by", "kim.finance", "--reason", "council minutes 7", *io]) == 0
    ws.deliver("2022-10-17", [])
    ws.run(program, "2022-10-17", validate=True)
    assert [(p["claimant_key"], p["amount_krw"], p["basis"]) for p in ws.payments("2022-10-17")] == [
        (BIZ, str(over), "review_approved")
    ]
    capsys.readouterr()
    main(["explain", BIZ, *io])
    assert "over_cap_released" in capsys.readouterr().out


def test_the_run_date_comes_from_the_logical_date_in_kst():
    from etl.runtime import run_day_of

    utc = dt.UTC
    assert run_day_of(dt.datetime(2022, 10, 14, 15, 0, tzinfo=utc), None, "Asia/Seoul") == dt.date(2022, 10, 15)
    assert run_day_of(dt.datetime(2022, 10, 15, 0, 0, tzinfo=utc), None, "Asia/Seoul") == dt.date(2022, 10, 15)
    assert run_day_of(None, dt.datetime(2022, 10, 16, 1, 0, tzinfo=utc), "Asia/Seoul") == dt.date(2022, 10, 16)


def test_a_tier_changed_in_config_alone_passes_the_audit_and_verify(ws, program, tmp_path, monkeypatch):
    """Issue 7: the basis codes come from the program's tiers (one source), not from copies in GX and verify."""
    from etl.core.config import load_program
    from etl.payments import verify
    from tests.conftest import copy_program

    edited = copy_program(
        tmp_path,
        program,
        lambda t: t.replace(
            '{ max_loss_krw = 300000, support_krw = 30000, basis = "tier_30000" }',
            '{ max_loss_krw = 300000, support_krw = 35000, basis = "tier_35000" }',
        ).replace('tier_30000 = "카카오1015피해지원3만"', 'tier_35000 = "카카오1015피해지원3.5만"'),
    )
    changed = load_program(edited)
    monkeypatch.setenv("RELIEF_PROGRAM", str(edited))
    verify._bases.cache_clear()
    ws.deliver("2022-10-15", [claim(receipt_no="R1")])
    ws.run(changed, "2022-10-15", validate=True)
    assert [(p["amount_krw"], p["basis"]) for p in ws.payments("2022-10-15")] == [("35000", "tier_35000")]
    assert verify.verify_folder(ws.settings.outbox / "payments" / "2022-10-15") == 0
    verify._bases.cache_clear()


@pytest.mark.postgres
def test_postgresql_plans_a_day_from_fresh_statistics(pg_ws, program):
    """Seen at scale 1: with no statistics on a freshly loaded `deliveries`, PostgreSQL ran the fraud checks as
    nested loops over sequential scans (compute 9x SQLite's). A day's run analyzes what it loaded and keyed."""
    for day in three_day_story(pg_ws):
        pg_ws.run(program, day)
    with pg_ws.wh.begin() as conn:
        analyzed = {
            r[0]
            for r in conn.exec_driver_sql(
                "select distinct tablename from pg_stats where schemaname = current_schema()"
            ).fetchall()
        }
    assert {"deliveries", "touched_keys", "business_state", "payments"} <= analyzed, analyzed
