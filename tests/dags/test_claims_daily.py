"""claims_daily end to end through Airflow itself: real DAG runs (`dag.test` per day via
scripts/run_window.py) over a small inbox, checked on the outbox finance reads.

Airflow days cost ~5-10 s each: two days for the main scenario, one rerun, one failing day.
The sensor's waiting path is tested on its callable, not through Airflow: under `dag.test` a
reschedule-mode sensor whose file is missing sits in `up_for_reschedule`, poked every
poke_interval (5 min) until its 6 h timeout, i.e. the run hangs.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import types

import pytest

from tests.builders import Workspace, claim, claims_csv, make_brn
from tests.dags.conftest import DAGS, AirflowHome

D1, D2 = "2022-10-15", "2022-10-16"
FOLDERS = ("payments", "reviews", "exclusions", "quarantine", "reports")
BRN_A = make_brn(11)  # 270,000 on D1, resubmits 320,000 on D2
BRN_AFFILIATE = make_brn(12)
BRN_BIG = make_brn(13)  # 650,000: the council
_bad = make_brn(14)
BRN_BAD_CHECK = _bad[:9] + str((int(_bad[9]) + 1) % 10)

DAY1 = [
    claim(
        receipt_no="W-0001",
        received_at="2022-10-15T09:12:44+09:00",
        business_reg_no=BRN_A,
        claimant_name="행복분식",
        service="kakaotalk",
        claimed_loss_krw=270000,
        bank_code="088",
        account_no="110-432-118290",
        account_holder="김행복",
    ),
    claim(
        receipt_no="W-0002",
        received_at="2022-10-15T09:30:00+09:00",
        business_reg_no=BRN_AFFILIATE,
        claimant_name="빠른택시",
        service="kakao_t",
        claimed_loss_krw=80000,
    ),
    claim(
        receipt_no="W-0003",
        received_at="2022-10-15T10:00:00+09:00",
        business_reg_no=BRN_BAD_CHECK,
        claimant_name="오타상회",
        claimed_loss_krw=100000,
    ),
    claim(
        receipt_no="W-0004",
        received_at="2022-10-15T11:00:00+09:00",
        claimant_type="individual",
        claimant_name="이용자",
        kakao_account_id="kakao-77",
        business_reg_no="",
        phone="010-2222-3333",
        monetary_loss="true",
        claimed_loss_krw=15000,
        bank_code="",
        account_no="",
        account_holder="",
        description='"답장이, 안 갔어요"\n두 줄',
    ),
    claim(
        receipt_no="W-0005",
        received_at="2022-10-15T12:00:00+09:00",
        business_reg_no=BRN_BIG,
        claimant_name="큰손상회",
        service="talk_store",
        claimed_loss_krw=650000,
        bank_code="004",
        account_no="123-456-789012",
        account_holder="박큰손",
    ),
]
DAY2 = [
    claim(
        receipt_no="W-0101",
        received_at="2022-10-16T08:00:00+09:00",
        business_reg_no=BRN_A,
        claimant_name="행복분식",
        service="kakaotalk",
        claimed_loss_krw=320000,
        bank_code="088",
        account_no="110-432-118290",
        account_holder="김행복",
    ),
    DAY1[3],  # the intake delivers W-0004 again
]


def without_run_id(doc):
    if isinstance(doc, dict):
        return {k: without_run_id(v) for k, v in doc.items() if k != "run_id"}
    if isinstance(doc, list):
        return [without_run_id(v) for v in doc]
    return doc


def snapshot(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def window(tmp_path_factory, airflow_db):
    """D1 and D2 of the inbox above, run through Airflow in one run_window.py call."""
    root = tmp_path_factory.mktemp("claims-window")
    ws = Workspace(root, f"sqlite:///{root / 'warehouse.sqlite'}")
    ws.deliver(D1, DAY1)
    ws.deliver(D2, DAY2)
    af = AirflowHome(root / "airflow", airflow_db, ws)
    run = af.run_window(D1, D2)
    outbox = ws.settings.outbox
    return types.SimpleNamespace(
        ws=ws, af=af, run=run, outbox=outbox, files=snapshot(outbox) if outbox.exists() else {}
    )


@pytest.mark.airflow
def test_both_days_succeed_as_airflow_runs(window):
    run = window.run
    assert run.returncode == 0, f"run_window.py exited {run.returncode}:\n{run.tail()}"
    assert run.states == {D1: "success", D2: "success"}, run.tail()


@pytest.mark.airflow
def test_every_folder_is_complete_and_its_manifest_matches_its_files(window, program):
    for folder in FOLDERS:
        for day in (D1, D2):
            path = window.outbox / folder / day
            manifest_path = path / "manifest.json"
            assert manifest_path.is_file(), f"{folder}/{day} has no manifest.json"
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            assert manifest["program"] == program.code
            assert manifest["config_sha256"] == program.sha256
            assert manifest["run_id"].startswith("manual__"), f"{folder}/{day}: not written by an Airflow run"
            names = {p.name for p in path.iterdir() if p.is_file()} - {"manifest.json"}
            assert names == set(manifest["files"]), f"{folder}/{day}: files {names} vs manifest {manifest['files']}"
            for name, entry in manifest["files"].items():
                data = (path / name).read_bytes()
                assert entry["sha256"] == hashlib.sha256(data).hexdigest(), f"{folder}/{day}/{name}: sha256"
                if name.endswith(".csv"):
                    rows = len(list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))) - 1
                    assert entry["rows"] == rows, f"{folder}/{day}/{name}: manifest rows {entry['rows']} != {rows}"


@pytest.mark.airflow
def test_outbox_is_not_world_readable(window):
    exposed = [
        f"{p.relative_to(window.outbox)} {oct(p.stat().st_mode & 0o777)}"
        for p in [window.outbox, *window.outbox.rglob("*")]
        if p.stat().st_mode & 0o007
    ]
    assert not exposed, f"world-accessible outbox entries: {exposed}"
    leftovers = [p.name for p in window.outbox.rglob(".*")]
    assert not leftovers, f"temporary files left in the outbox: {leftovers}"


@pytest.mark.airflow
def test_payments_tier_then_top_up(window, program):
    day1 = window.ws.payments(D1)
    assert [(p["claimant_key"], p["business_reg_no"], p["amount_krw"], p["basis"], p["run_date"]) for p in day1] == [
        (BRN_A, BRN_A, "30000", "tier_30000", D1)
    ]
    assert (day1[0]["bank_code"], day1[0]["account_no"], day1[0]["account_holder"]) == ("088", "110432118290", "김행복")
    day2 = window.ws.payments(D2)
    assert [(p["claimant_key"], p["amount_krw"], p["basis"], p["run_date"]) for p in day2] == [
        (BRN_A, "20000", "top_up", D2)
    ]
    ids = [p["payment_id"] for p in day1 + day2]
    assert len(set(ids)) == len(ids) and all(len(i) <= 35 and i.startswith(program.payment_prefix) for i in ids)
    for day, rows in ((D1, day1), (D2, day2)):
        manifest = json.loads((window.outbox / "payments" / day / "manifest.json").read_text())
        assert manifest["rows"] == len(rows)
        assert manifest["control_sum_krw"] == sum(int(p["amount_krw"]) for p in rows)
        assert (
            manifest["sha256"]
            == hashlib.sha256((window.outbox / "payments" / day / "payments.csv").read_bytes()).hexdigest()
        )


@pytest.mark.airflow
def test_review_exclusion_and_quarantine(window):
    for day in (D1, D2):  # still awaiting the council on D2
        queue = window.ws.csv_rows("reviews", day, "review_queue.csv")
        assert [(q["claimant_key"], q["loss_krw"], q["pending_since"]) for q in queue] == [(BRN_BIG, "650000", D1)]
    excluded = window.ws.csv_rows("exclusions", D1, "affiliate_claims.csv")
    assert [(e["receipt_no"], e["service"], e["operator"]) for e in excluded] == [
        ("W-0002", "kakao_t", "Kakao Mobility")
    ]
    assert window.ws.csv_rows("exclusions", D2, "affiliate_claims.csv") == []
    rejected = window.ws.csv_rows("quarantine", D1, "rejected_rows.csv")
    assert [(r["source_file"], r["line_no"], r["reason"]) for r in rejected] == [
        ("claims_20221015.csv", "4", "bad_check_digit")
    ]
    assert BRN_BAD_CHECK in rejected[0]["raw_row"]
    assert window.ws.csv_rows("quarantine", D2, "rejected_rows.csv") == []


@pytest.mark.airflow
def test_summary_counts_reconcile(window):
    s1, s2 = window.ws.summary(D1), window.ws.summary(D2)
    for s in (s1, s2):
        for scope in ("day", "cumulative"):
            c = s[scope]
            assert c["rows_received"] == c["accepted"] + c["duplicates"] + c["excluded"] + c["quarantined"], (scope, c)
    d1 = s1["day"]
    assert (d1["rows_received"], d1["accepted"], d1["duplicates"], d1["excluded"], d1["quarantined"]) == (5, 3, 0, 1, 1)
    assert (d1["reports_received"], d1["reports_kakao"], d1["reports_affiliate"]) == (4, 3, 1)
    assert d1["by_claimant_type"] == {"individual": 1, "small_business": 2, "enterprise": 0}
    assert d1["by_damage"] == {"paid_service": 0, "free_monetary": 3, "non_monetary": 0}
    assert (d1["payments"], d1["paid_krw"]) == (1, 30000)
    for key in (
        "rows_received",
        "accepted",
        "duplicates",
        "excluded",
        "quarantined",
        "reports_received",
        "reports_kakao",
        "reports_affiliate",
        "by_claimant_type",
        "by_damage",
        "payments",
        "paid_krw",
    ):
        assert s1["cumulative"][key] == d1[key], f"first day: cumulative {key} != day {key}"

    d2 = s2["day"]  # the resubmission is a report; the re-delivery is not
    assert (d2["rows_received"], d2["accepted"], d2["duplicates"], d2["excluded"], d2["quarantined"]) == (2, 1, 1, 0, 0)
    assert (d2["reports_received"], d2["payments"], d2["paid_krw"]) == (1, 1, 20000)
    c2 = s2["cumulative"]
    assert (c2["rows_received"], c2["accepted"], c2["duplicates"], c2["excluded"], c2["quarantined"]) == (7, 4, 1, 1, 1)
    assert (c2["reports_received"], c2["reports_kakao"], c2["reports_affiliate"]) == (5, 4, 1)
    assert c2["by_claimant_type"] == {"individual": 1, "small_business": 3, "enterprise": 0}
    assert c2["by_damage"] == {"paid_service": 0, "free_monetary": 4, "non_monetary": 0}
    assert (c2["payments"], c2["paid_krw"]) == (2, 50000)


@pytest.mark.airflow
def test_rerun_of_a_day_through_airflow_reproduces_its_files(window):
    """Last in this module: reruns D1 (after D2 was published) in the same Airflow home and warehouse."""
    if window.run.returncode != 0:
        pytest.skip("the window itself failed")
    rerun = window.af.run_window(D1)
    assert rerun.returncode == 0 and rerun.states == {D1: "success"}, rerun.tail()
    after = snapshot(window.outbox)
    assert set(after) == set(window.files), "the rerun added or removed outbox files"
    assert after[f"payments/{D1}/payments.csv"] == window.files[f"payments/{D1}/payments.csv"]
    for name, data in window.files.items():
        if name.endswith("manifest.json"):
            # A manifest names its run (run_id, approval time); the files it lists must be the same.
            before_files, again_files = json.loads(data)["files"], json.loads(after[name])["files"]
            assert before_files.keys() == again_files.keys(), name
            for f, entry in before_files.items():
                if not f.endswith(".json"):
                    assert again_files[f] == entry, f"{name}: entry {f} changed on rerun"
        elif name.endswith(".json"):
            assert without_run_id(json.loads(after[name])) == without_run_id(json.loads(data)), f"{name} changed"
        else:
            assert after[name] == data, f"{name} changed on rerun"


@pytest.mark.airflow
def test_malformed_file_fails_the_day_and_publishes_nothing(airflow_home: AirflowHome, ws):
    good = claims_csv([claim(receipt_no="M-1")]).decode("utf-8")
    ws.deliver(D1, good.replace("receipt_no,", "receipt_id,", 1).encode("utf-8"))
    # The DAG retries every task twice, 2 min apart; dag.test would sit through that (see the report).
    airflow_home.set_retries(0)
    run = airflow_home.run_window(D1, timeout=150)
    published = [str(p) for p in ws.settings.outbox.glob(f"*/{D1}")] if ws.settings.outbox.exists() else []
    assert not published, f"folders published for a failed day: {published}"
    assert "InboxFileError" in run.output and "claims_20221015.csv: wrong header" in run.output, run.tail()
    # The DAG run itself must end failed (red in the UI, non-zero exit), not green with nothing published.
    assert run.states == {D1: "failed"}, f"the run of a day whose file is unusable ended {run.states}"
    assert run.returncode != 0


# ---------------------------------------------------------------------------------------------
# the sensor, without Airflow's scheduler


@pytest.mark.parametrize("delivered", [False, True])
def test_sensor_waits_for_the_days_file(delivered, ws, monkeypatch, dag_bag_of, caplog, capsys):
    """The DAG's sensor callable, given a run's logical date, looks for that KST day's file."""
    import pendulum

    monkeypatch.setenv("RELIEF_INBOX", str(ws.settings.inbox))
    if delivered:
        ws.deliver(D2, [claim()])
    ws.deliver(D1, [claim()])  # another day's file does not count
    dag = dag_bag_of(DAGS / "claims_daily.py").dags["claims_daily"]
    poke = dag.get_task("wait_for_claims_file").python_callable
    logical = pendulum.datetime(2022, 10, 16, tz="Asia/Seoul")  # = 2022-10-15T15:00Z
    with caplog.at_level(logging.INFO, logger="etl"):
        assert poke(logical_date=logical, dag_run=types.SimpleNamespace(run_after=None)) is delivered
    if not delivered:
        # Airflow's logging (structlog) may send the record to stdout rather than to caplog.
        assert "claims_20221016.csv" in caplog.text + capsys.readouterr().out


def test_claims_file_ready(ws):
    from etl.claims.delivery import claims_file_ready

    day = dt.date(2022, 10, 17)
    assert claims_file_ready(ws.settings.inbox, day) is False
    (ws.settings.inbox / "claims_20221017.csv").mkdir()  # a folder by that name is not a delivery
    assert claims_file_ready(ws.settings.inbox, day) is False
    (ws.settings.inbox / "claims_20221017.csv").rmdir()
    ws.deliver("2022-10-17", claims_csv([]))  # a day without claims still gets a (header-only) file
    assert claims_file_ready(ws.settings.inbox, day) is True


def test_a_file_that_never_arrives_fails_with_a_message_naming_it(ws):
    from etl.claims.delivery import claims_file_ready
    from etl.core.errors import MissingDelivery

    day = dt.date(2022, 10, 17)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=7)
    with pytest.raises(MissingDelivery, match=r"claims_20221017.csv has not arrived after waiting 7.0 h"):
        claims_file_ready(ws.settings.inbox, day, waiting_since=long_ago)
    just_now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    assert claims_file_ready(ws.settings.inbox, day, waiting_since=just_now) is False
