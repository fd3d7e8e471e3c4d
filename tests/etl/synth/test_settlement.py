"""The settlement period's inbox (council decisions, bank results), generated from a window published by the
real pipeline and read back with the pipeline's own parsers."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from etl.core.errors import ReliefError
from etl.payments.decisions import parse_decisions_file
from etl.payments.returns import parse_returns_file
from etl.synth.settlement import SettlementInboxConflict, generate_settlement
from tests.builders import Workspace, claim, make_brn

OVER_THRESHOLD = 40  # businesses whose loss goes to the council
IN_TIERS = 60  # businesses paid a tier during the window
FIRST_MEETING = dt.date(2022, 11, 14)


def _window_claims(program) -> dict[dt.date, list[dict]]:
    """Claims over the first three intake days: tier businesses, and businesses over the review threshold
    (some of them crossing it with a second claim on a later day)."""
    days = program.intake_days()[:3]
    by_day: dict[dt.date, list[dict]] = {d: [] for d in days}
    for i in range(IN_TIERS):
        day = days[i % 3]
        by_day[day].append(
            claim(receipt_no=f"T{i:04d}", business_reg_no=make_brn(1000 + i),
                  received_at=f"{day}T09:{i % 60:02d}:00+09:00", claimed_loss_krw=100_000 + 5_000 * i)
        )  # fmt: skip
    for i in range(OVER_THRESHOLD):
        brn = make_brn(5000 + i)
        loss = 600_000 + 731_000 * i  # up to ~29M: 10% of the largest is over 2.8M
        if i % 4 == 0:  # a tier first, lifted over the threshold two days later by a claim on another service
            by_day[days[0]].append(
                claim(receipt_no=f"V{i:04d}a", business_reg_no=brn, received_at=f"{days[0]}T11:00:00+09:00",
                      claimed_loss_krw=200_000)
            )  # fmt: skip
            by_day[days[2]].append(
                claim(receipt_no=f"V{i:04d}b", business_reg_no=brn, received_at=f"{days[2]}T11:00:00+09:00",
                      service="talk_channel", claimed_loss_krw=loss)
            )  # fmt: skip
        else:
            day = days[i % 3]
            by_day[day].append(
                claim(receipt_no=f"V{i:04d}", business_reg_no=brn, received_at=f"{day}T12:00:00+09:00",
                      claimed_loss_krw=loss)
            )  # fmt: skip
    return by_day


@pytest.fixture(scope="module")
def window(tmp_path_factory, program) -> Workspace:
    """Every intake day published (claims on the first three days, header-only files after)."""
    root = tmp_path_factory.mktemp("window")
    ws = Workspace(root, f"sqlite:///{root / 'warehouse.sqlite'}")
    claims = _window_claims(program)
    for day in program.intake_days():
        ws.deliver(day.isoformat(), claims.get(day, []))
        ws.run(program, day.isoformat())
    return ws


@pytest.fixture
def published(window, tmp_path) -> Workspace:
    """A private copy of the published window (inbox, outbox, warehouse), for a test to add to."""
    shutil.copytree(window.root, tmp_path, dirs_exist_ok=True)
    return Workspace(tmp_path, f"sqlite:///{tmp_path / 'warehouse.sqlite'}")


def _generate(ws: Workspace, program, **kwargs) -> dict[str, Any]:
    return dict(generate_settlement(ws.settings.inbox, ws.settings.outbox, program, **kwargs))


def _inbox_files(ws: Workspace, kind: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(ws.settings.inbox.glob(f"{kind}_*.csv"))}


def _file_day(name: str) -> dt.date:
    return dt.datetime.strptime(name.split("_")[1].removesuffix(".csv"), "%Y%m%d").date()


def _queue(ws: Workspace, program) -> dict[str, int]:
    last = program.intake_days()[-1].isoformat()
    return {r["claimant_key"]: int(r["loss_krw"]) for r in ws.csv_rows("reviews", last, "review_queue.csv")}


def _published_ids(ws: Workspace, program) -> set[str]:
    return {p["payment_id"] for day in program.intake_days() for p in ws.payments(day.isoformat())}


def test_the_window_has_a_review_queue_and_payments(window, program):
    assert len(_queue(window, program)) == OVER_THRESHOLD
    assert len(_published_ids(window, program)) == IN_TIERS + OVER_THRESHOLD // 4  # the lifted ones paid a tier first


def test_same_seed_same_bytes_and_a_rerun_changes_nothing(published, program, tmp_path_factory):
    summary = _generate(published, program)
    other = Workspace(tmp_path_factory.mktemp("other"), "sqlite://")
    shutil.copytree(published.settings.outbox, other.settings.outbox)
    again: dict[str, Any] = dict(generate_settlement(other.settings.inbox, other.settings.outbox, program))
    assert {**again, "inbox": ""} == {**summary, "inbox": ""}
    for kind in ("decisions", "returns"):
        assert _inbox_files(published, kind) == _inbox_files(other, kind)
    assert set(summary["files"]) == set(_inbox_files(published, "decisions")) | set(_inbox_files(published, "returns"))
    rerun = _generate(published, program)  # the same files already there: left alone, no error
    assert rerun["unchanged"] == sorted(summary["files"])
    different: dict[str, Any] = dict(
        generate_settlement(other.settings.inbox / "x", other.settings.outbox, program, seed=7)
    )
    assert different["files"].keys() == summary["files"].keys()
    assert _inbox_files(published, "decisions") != {
        p.name: p.read_bytes() for p in sorted((other.settings.inbox / "x").glob("decisions_*.csv"))
    }


def test_files_are_crlf_utf8_with_the_contract_header(published, program):
    _generate(published, program)
    for kind, header in (
        ("decisions", b"claimant_key,decision,approved_amount_krw,decided_by,decided_at\r\n"),
        ("returns", b"payment_id,status,reason\r\n"),
    ):
        for name, data in _inbox_files(published, kind).items():
            assert data.startswith(header), name
            assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b""), name
            data.decode("utf-8")


def test_an_existing_file_with_other_bytes_is_never_overwritten(published, program):
    inbox = published.settings.inbox
    summary = _generate(published, program)
    first_returns = inbox / f"returns_{summary['return_days'][0].replace('-', '')}.csv"
    before = {p.name: p.read_bytes() for p in inbox.glob("*.csv")}
    first_returns.write_bytes(b"payment_id,status,reason\r\nP1015-20221016-0000001,settled,\r\n")
    before[first_returns.name] = first_returns.read_bytes()
    with pytest.raises(SettlementInboxConflict, match=first_returns.name):
        _generate(published, program)
    assert {p.name: p.read_bytes() for p in inbox.glob("*.csv")} == before  # nothing rewritten


def test_every_business_in_the_review_queue_is_decided_and_one_approval_is_over_the_cap(published, program):
    summary = _generate(published, program)
    queue = _queue(published, program)
    files = _inbox_files(published, "decisions")
    files_list = list(files)
    cap = program.max_payment_krw
    expected_days = [FIRST_MEETING + dt.timedelta(weeks=w) for w in range(6)]
    assert [_file_day(n) for n in files] == [d for d in expected_days if d.isoformat() in summary["decision_days"]]
    assert all(_file_day(n).weekday() == 0 for n in files)  # Mondays

    decisions, errors = [], {}
    for name in files:
        parsed = parse_decisions_file(published.settings.inbox / name)
        day = _file_day(name)
        errors[name] = parsed.errors
        for d in parsed.decisions:  # decided_at as written: on the file's day, KST; parsed: sortable UTC text
            written = dt.datetime.fromisoformat(next(csv.reader([d["raw"]]))[4])
            assert written.date() == day and written.utcoffset() == dt.timedelta(hours=9)
            assert d["decided_by"].startswith("1015 council (meeting ")
            decisions.append(d)

    # The unknown key is a well-formed row: the pipeline refuses it (unknown_claimant), it decides no one.
    unknown = [d for d in decisions if d["claimant_key"] not in queue]
    assert len(unknown) == 1 and unknown[0]["raw"] in (published.settings.inbox / files_list[0]).read_text("utf-8")
    decisions = [d for d in decisions if d["claimant_key"] in queue]
    keys = Counter(d["claimant_key"] for d in decisions)
    assert set(keys) == set(queue)  # every business decided, no one else
    redecided = {k for k, n in keys.items() if n > 1}
    assert max(keys.values()) == 2 and len(redecided) == summary["redecided"] >= 1
    standing = {}
    for d in sorted(decisions, key=lambda d: d["decided_at"]):
        standing[d["claimant_key"]] = d
    for key in redecided:  # the later decision changes the outcome
        first, second = sorted((d for d in decisions if d["claimant_key"] == key), key=lambda d: d["decided_at"])
        assert first["decided_at"] < second["decided_at"] and first["decision"] != second["decision"]
    outcomes = Counter(d["decision"] for d in standing.values())
    assert dict(outcomes) == {k: v for k, v in summary["decisions"].items() if v}
    assert 0.55 <= outcomes["approved"] / len(queue) <= 0.9

    over = [d for d in decisions if d["decision"] == "approved" and d["approved_amount_krw"] > cap]
    largest = max(sorted(queue), key=lambda k: queue[k])
    assert [(d["claimant_key"], d["approved_amount_krw"]) for d in over] == [(largest, cap + 1_000_000)]
    assert summary["over_cap"] == {"claimant_key": largest, "loss_krw": queue[largest], "amount_krw": cap + 1_000_000,
                                   "cap_krw": cap, "decision_day": "2022-11-14"}  # fmt: skip
    for d in decisions:
        if d["decision"] == "approved" and d["claimant_key"] != largest:
            top = max(50_000, int(queue[d["claimant_key"]] * 0.1) // 10_000 * 10_000)
            assert 50_000 <= d["approved_amount_krw"] <= top and d["approved_amount_krw"] % 10_000 == 0
        if d["decision"] == "rejected":
            assert d["approved_amount_krw"] is None

    first_file, *later_files = files
    assert Counter(e["reason"] for e in errors[first_file]) == {"malformed_row": 1, "bad_amount": 1}
    assert not any(errors[n] for n in later_files)
    assert summary["planted_decision_errors"] == {"malformed": 2, "unknown_claimant": 1}


def test_every_published_payment_gets_one_result_after_the_window(published, program):
    summary = _generate(published, program)
    ids = _published_ids(published, program)
    files = _inbox_files(published, "returns")
    last = program.intake_days()[-1]
    assert summary["last_published_day"] == last.isoformat() and summary["window_complete"]
    days = [_file_day(n) for n in files]
    assert len(days) == 2 and days == [dt.date.fromisoformat(d) for d in summary["return_days"]]
    meetings = {FIRST_MEETING + dt.timedelta(weeks=w) for w in range(6)}
    assert all(d > last and d not in meetings for d in days)
    assert days[0] - last >= dt.timedelta(days=1) and days[1] - days[0] >= dt.timedelta(days=5)

    results: Counter[str] = Counter()
    named: list[str] = []
    strays = {}
    for name in files:
        parsed = parse_returns_file(published.settings.inbox / name)
        assert parsed.errors == []
        strays[name] = [r["payment_id"] for r in parsed.results if r["payment_id"] not in ids]
        for r in parsed.results:
            if r["payment_id"] in ids:
                named.append(r["payment_id"])
                results[r["status"]] += 1
                assert bool(r["reason"]) == (r["status"] == "returned")
    assert sorted(named) == sorted(ids)  # each published payment once
    per_file = [len(parse_returns_file(published.settings.inbox / n).results) for n in files]
    assert all(per_file), per_file  # the payments span three days: both files carry results
    assert [len(s) for s in strays.values()] == [1, 0]  # the one unknown id, in the first file
    assert results["returned"] >= 1 and dict(results) == summary["results"]


def test_decision_days_move_the_return_days(published, program):
    last = program.intake_days()[-1]
    summary = _generate(published, program, first_decision_day=last + dt.timedelta(days=1), weeks=2)
    assert summary["decision_days"][0] == (last + dt.timedelta(days=1)).isoformat()
    assert not set(summary["return_days"]) & set(summary["decision_days"])
    assert summary["return_days"][0] == (last + dt.timedelta(days=2)).isoformat()
    with pytest.raises(ValueError, match="after the last published day"):
        _generate(published, program, first_decision_day=last)


def test_no_file_after_the_close(published, program):
    if not hasattr(program, "close_date"):
        pytest.skip("this program config has no close date")
    closing = dataclasses.replace(program, close_date=FIRST_MEETING + dt.timedelta(weeks=2))
    with pytest.raises(ValueError, match="after the program's close date"):
        _generate(published, closing)
    assert not list(published.settings.inbox.glob("decisions_*.csv"))
    assert len(_generate(published, closing, weeks=3)["decision_days"]) == 3


def test_nothing_published_is_an_error(ws, program):
    with pytest.raises(ReliefError, match="no published day"):
        _generate(ws, program)


def _standing(inbox: Path, names: list[str]) -> dict[str, dict]:
    """The council's standing decision per business: the latest decided_at (CONTRACT.md section 2)."""
    decisions = [d for name in names for d in parse_decisions_file(inbox / name).decisions]
    return {d["claimant_key"]: d for d in sorted(decisions, key=lambda d: d["decided_at"])}


def test_the_settlement_days_run_and_apply_the_decisions(published, program):
    summary = _generate(published, program)
    queue = _queue(published, program)
    last_window_day = program.intake_days()[-1].isoformat()
    already_paid = {
        r["claimant_key"]: int(r["already_paid_krw"])
        for r in published.csv_rows("reviews", last_window_day, "review_queue.csv")
    }
    for day in summary["days_to_run"]:
        published.run(program, day)

    paid: Counter[str] = Counter()
    for day in summary["days_to_run"]:
        for p in published.payments(day):
            assert p["basis"] == "review_approved" and p["run_date"] == day
            paid[p["claimant_key"]] += int(p["amount_krw"])
    standing = _standing(
        published.settings.inbox, [f"decisions_{d.replace('-', '')}.csv" for d in summary["decision_days"]]
    )
    over = summary["over_cap"]
    assert over is not None
    expected = {
        key: d["approved_amount_krw"] - already_paid[key]
        for key, d in standing.items()
        if key in queue and d["decision"] == "approved" and key != over["claimant_key"]
    }
    assert dict(paid) == expected and expected  # each approval paid once, less what the tier paid before
    # The approval above the cap waits for a second approval (relief release), day after day.
    for day in summary["decision_days"]:
        held = published.csv_rows("reviews", day, "over_cap.csv")
        assert [(r["claimant_key"], int(r["amount_krw"])) for r in held] == [
            (over["claimant_key"], over["amount_krw"] - already_paid[over["claimant_key"]])
        ]
    first = summary["decision_days"][0]
    errors = Counter(r["reason"] for r in published.csv_rows("reviews", first, "decisions_errors.csv"))
    assert errors == {"malformed_row": 1, "bad_amount": 1, "unknown_claimant": 1}
    assert published.csv_rows("reviews", summary["days_to_run"][-1], "review_queue.csv") == []

    first_returns, second_returns = summary["return_days"]
    assert [r["reason"] for r in published.csv_rows("reports", first_returns, "returns_errors.csv")] == [
        "unknown_payment"
    ]
    cumulative = published.summary(summary["days_to_run"][-1])["cumulative"]
    assert cumulative["returned"]["count"] == summary["results"]["returned"]
    assert cumulative["issued"]["count"] == summary["payments_published"] + len(expected)
    for day in (first_returns, second_returns):
        assert published.summary(day)["day"]["issued"]["count"] == 0  # bank results pay nothing by themselves
