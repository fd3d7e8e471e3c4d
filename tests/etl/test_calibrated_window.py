"""The whole intake window on the calibrated inbox: the cumulative summary equals PROGRAM.md's table."""

from __future__ import annotations

import json

import pytest

from etl.daily import run_days
from etl.reports.summary import comparison
from etl.synth.claims import generate_claims


@pytest.fixture(scope="module")
def window(tmp_path_factory, program):
    from tests.builders import Workspace

    root = tmp_path_factory.mktemp("calibrated")
    ws = Workspace(root, f"sqlite:///{root / 'warehouse.sqlite'}")
    generated = generate_claims(ws.settings.inbox, program, scale=1, seed=1015)
    # The Great Expectations suites run too: the calibrated data must pass every critical check.
    results = run_days(ws.settings, program, program.intake_first_day, program.intake_last_day, validate=True)
    return ws, generated, results


def test_the_19_day_window_reproduces_program_md(window, program):
    ws, _, results = window
    assert len(results) == 19
    last = program.intake_last_day.isoformat()
    cumulative = ws.summary(last)["cumulative"]
    assert cumulative["reports_received"] == 105_116
    assert cumulative["reports_kakao"] == 87_195
    assert cumulative["reports_affiliate"] == 17_921
    assert cumulative["by_claimant_type"] == {"individual": 69_582, "small_business": 17_439, "enterprise": 174}
    assert cumulative["by_damage"] == {"paid_service": 14_918, "free_monetary": 13_195, "non_monetary": 59_082}
    assert all(row["match"] for row in comparison(cumulative, program.reference_claims))


def test_every_day_reconciles_and_matches_what_the_generator_wrote(window, program):
    ws, generated, _ = window
    expected = generated["expected"]
    total = {"rows_received": 0, "duplicates": 0, "quarantined": 0}
    for day in program.intake_days():
        summary = ws.summary(day.isoformat())
        c = summary["day"]
        assert c["rows_received"] == c["accepted"] + c["duplicates"] + c["excluded"] + c["quarantined"], day
        for key in total:
            total[key] += c[key]
    assert total == {
        "rows_received": expected["rows"],
        "duplicates": expected["duplicates"],
        "quarantined": expected["malformed"],
    }


def test_payments_never_exceed_the_highest_tier_or_repeat(window, program):
    ws, _, _ = window
    paid: dict[str, int] = {}
    ids = set()
    for day in program.intake_days():
        for p in ws.payments(day.isoformat()):
            assert p["payment_id"] not in ids and len(p["payment_id"]) <= 35
            ids.add(p["payment_id"])
            assert p["basis"] in ("tier_30000", "tier_50000", "top_up")  # no council decisions in this inbox
            paid[p["claimant_key"]] = paid.get(p["claimant_key"], 0) + int(p["amount_krw"])
    assert paid and max(paid.values()) <= 50_000
    last = ws.summary(program.intake_last_day.isoformat())
    assert last["cumulative"]["paid_krw"] == sum(paid.values())
    assert last["open"]["review_queue"] > 0  # businesses over 500,000 wait for the council


def test_a_rerun_of_a_middle_day_reproduces_its_payment_file(window, program):
    ws, _, _ = window
    day = program.intake_days()[5]
    path = ws.settings.outbox / "payments" / day.isoformat() / "payments.csv"
    before = path.read_bytes()
    run_days(ws.settings, program, day, day, validate=False)
    assert path.read_bytes() == before
    summary = json.loads((ws.settings.outbox / "reports" / day.isoformat() / "summary.json").read_text())
    assert summary["cumulative"]["reports_received"] < 105_116
