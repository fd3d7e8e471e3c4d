"""The sidecar: calls run in a second process that preloaded the heavy modules; errors come back; it fails safe."""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import tempfile
import time

import pytest

from etl.core.errors import ReliefError, ValidationFailed
from etl.core.sidecar import Sidecar
from tests.builders import claim


class CustomError(ReliefError):
    pass


class UnpicklableError(Exception):
    def __init__(self, a: int, b: int) -> None:  # pickling calls __init__ with one argument: it cannot come back
        super().__init__(f"{a}/{b}")


def raise_relief(message: str) -> None:
    raise CustomError(message)


def raise_unpicklable() -> None:
    raise UnpicklableError(1, 2)


def loaded(name: str) -> bool:
    return name in sys.modules


@pytest.fixture
def sidecar():
    with Sidecar(["colorsys"]) as side:
        yield side


def test_a_call_runs_in_the_sidecar_after_its_preload(tmp_path, monkeypatch):
    probe = tmp_path / "preloaded"
    monkeypatch.setenv("RELIEF_SIDECAR_PROBE", str(probe))
    with Sidecar(["tests.etl.sidecar_probe"]) as side:
        deadline = time.monotonic() + 60
        while not probe.exists() and time.monotonic() < deadline:  # a call would cut the preload short
            time.sleep(0.05)
        pid = side.call(os.getpid)
        assert pid != os.getpid() and probe.read_text() == str(pid)  # preloaded there, not here
        assert side.call(loaded, "tests.etl.sidecar_probe") is True
        assert not loaded("tests.etl.sidecar_probe")
        assert side.call(divmod, 17, 5) == (3, 2)


def test_a_preload_entry_may_name_a_warm_up_to_call_after_the_import(tmp_path, monkeypatch):
    probe = tmp_path / "preloaded"
    monkeypatch.setenv("RELIEF_SIDECAR_PROBE", str(probe))
    with Sidecar(["tests.etl.sidecar_probe", "tests.etl.sidecar_probe:warm_up"]) as side:
        assert wait_until_text(probe, " warmed")
        assert probe.read_text() == f"{side.call(os.getpid)} warmed"  # imported once, then warmed up, there


def wait_until_text(path, ending: str, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while not (path.exists() and path.read_text().endswith(ending)):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_great_expectations_warm_up_validates_and_renders_and_keeps_nothing(caplog, tmp_path, monkeypatch):
    from etl.quality.validate import warm_up

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where its Data Docs pages go, and are removed from
    caplog.set_level(logging.DEBUG, logger="etl.quality.validate")
    warm_up()
    assert "Great Expectations warmed up in" in caplog.text, caplog.text
    assert not list(tmp_path.iterdir())


def test_a_call_before_the_preload_ends_cuts_it_short(tmp_path, monkeypatch):
    with Sidecar(["great_expectations"]) as side:  # seconds to import; the call comes first
        assert side.call(loaded, "great_expectations") is False


def test_an_error_comes_back_with_its_type_and_message(sidecar):
    with pytest.raises(CustomError, match="the day is wrong"):
        sidecar.call(raise_relief, "the day is wrong")
    with pytest.raises(RuntimeError, match="UnpicklableError: 1/2"):
        sidecar.call(raise_unpicklable)
    assert sidecar.call(divmod, 7, 2) == (3, 1)  # still serving after both


def test_a_dead_sidecar_means_the_work_runs_here(sidecar, caplog):
    sidecar._proc.kill()
    sidecar._proc.join()
    assert sidecar.call(os.getpid) == os.getpid()
    assert not sidecar.alive
    assert "the sidecar stopped" in caplog.text
    assert sidecar.call(os.getpid) == os.getpid()  # and stays here


class ScriptedPipe:
    """The sidecar's end of the pipe, scripted: poll() answers from `polls` (then: is a message left?)."""

    def __init__(self, polls: list[bool], messages: list) -> None:
        self.polls, self.messages, self.replies = polls, messages, []

    def poll(self) -> bool:
        return self.polls.pop(0) if self.polls else bool(self.messages)

    def recv(self):
        return self.messages.pop(0)

    def send(self, reply) -> None:
        self.replies.append(reply)


class Stopped(Exception):
    pass


def test_the_preload_stops_for_a_call_and_resumes_after_it(monkeypatch):
    """A call cuts the preload short (it waits for the import under way only); what is left is imported while
    no call waits (in relief run-day: matplotlib, while the parent computes, before the charts are asked for)."""
    import etl.core.sidecar as sidecar_module

    imported: list[str] = []
    monkeypatch.setattr(sidecar_module.importlib, "import_module", imported.append)
    monkeypatch.setattr(sidecar_module, "_exit", lambda: (_ for _ in ()).throw(Stopped()))
    monkeypatch.setattr(sidecar_module.signal, "signal", lambda *args: None)
    seen_by_call = lambda: list(imported)  # noqa: E731 - what had been imported when the call ran
    # Idle, then a call waits; idle twice, then a call waits; idle, and the stop comes.
    pipe = ScriptedPipe([False, True, False, False, True, False], [(seen_by_call, ()), (seen_by_call, ()), None])
    with pytest.raises(Stopped):
        sidecar_module.serve(pipe, ("gx", "pandas", "matplotlib", "matplotlib.figure"), logging.INFO, "%(message)s")
    assert pipe.replies == [(True, ["gx"]), (True, ["gx", "pandas", "matplotlib"])]
    assert imported == ["gx", "pandas", "matplotlib", "matplotlib.figure"]  # the rest, after the second call


def test_close_stops_the_process_even_while_it_preloads():
    side = Sidecar(["great_expectations"])  # seconds to import: told to stop, it stops between modules
    proc = side._proc
    side.close()
    assert not proc.is_alive() and proc.exitcode == 0
    assert not side.alive and side.call(os.getpid) == os.getpid()


def test_run_days_validates_and_draws_in_the_sidecar(ws, program, capfd, caplog):
    """`relief run-day`'s path: the validations run in the sidecar (logged there) and the day is published."""
    from etl.daily import run_days

    caplog.set_level(logging.INFO)  # the sidecar logs at this process's level, to the same stderr
    ws.deliver("2022-10-15", [claim(receipt_no="R1")])
    [result] = run_days(ws.settings, program, dt.date(2022, 10, 15), dt.date(2022, 10, 15), validate=True)
    assert (result["payments"], result["control_sum_krw"]) == (1, 30_000)
    assert set(result["seconds"]) == {"stage", "validate_claims", "compute", "validate_payments", "publish"}
    sidecar_said = capfd.readouterr().err  # this process's own records go to caplog, not to fd 2
    [said] = [line for line in sidecar_said.splitlines() if "INFO etl.quality.validate: Great Expectations:" in line]
    assert said.endswith(("preloaded by the relief sidecar", "s by the relief sidecar")), said
    assert not [r for r in caplog.records if r.name == "etl.quality.validate"]
    html = (ws.settings.outbox / "reports" / "finance" / "2022-10-15" / "finance.html").read_text(encoding="utf-8")
    assert html.count("data:image/svg+xml;base64,") == 4  # the four charts drawn there came back


def tamper_then_check_payments(db_url: str, program, day: dt.date) -> dict:
    """Runs in the sidecar: a basis no rule gives, then the real payments suite over it."""
    from etl.io.warehouse import Warehouse
    from etl.quality.validate import check_payments_at

    with Warehouse(db_url).begin() as conn:
        conn.exec_driver_sql("update payments set basis = 'tier_99999'")
    return check_payments_at(db_url, program, day)


def test_a_failed_check_in_the_sidecar_stops_the_day_here(ws, program, monkeypatch):
    """The payments suite failing in the sidecar raises ValidationFailed here, and this process (the writer) records
    it: nothing is published."""
    import etl.quality.validate
    from etl.daily import run_days

    monkeypatch.setattr(etl.quality.validate, "check_payments_at", tamper_then_check_payments)
    ws.deliver("2022-10-15", [claim(receipt_no="R1")])
    with pytest.raises(ValidationFailed, match="payments_batch"):
        run_days(ws.settings, program, dt.date(2022, 10, 15), dt.date(2022, 10, 15), validate=True)
    assert not (ws.settings.outbox / "payments" / "2022-10-15").exists()
    with ws.wh.begin() as conn:
        results = conn.exec_driver_sql("select suite, success from validation_results").fetchall()
    assert sorted(tuple(r) for r in results) == [("claims_staged", 1), ("payments_batch", 0)]


def wait_for(path: str) -> bool:
    """Runs in the sidecar: wait (at most 60 s) until `path` exists; whether it did."""
    deadline = time.monotonic() + 60
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    return os.path.exists(path)


def test_submit_returns_at_once_and_the_result_waits(sidecar, tmp_path):
    """The sidecar works while this process does: it waits for a file only this process writes afterwards."""
    marker = tmp_path / "written here after submit"
    result = sidecar.submit(wait_for, str(marker))
    marker.write_text("")  # were submit to wait for the call, the sidecar would wait 60 s and say False
    assert result() is True
    assert result() is True  # asked again: the same reply, not a second call
    with pytest.raises(CustomError, match="the day is wrong"):
        sidecar.submit(raise_relief, "the day is wrong")()
    assert sidecar.call(divmod, 7, 2) == (3, 1)


def test_one_call_at_a_time(sidecar):
    first = sidecar.submit(divmod, 9, 4)
    with pytest.raises(RuntimeError, match="still running divmod: collect its result first"):
        sidecar.submit(os.getpid)
    assert first() == (2, 1)
    assert sidecar.call(os.getpid) != os.getpid()


def test_a_submitted_call_whose_sidecar_dies_runs_here(sidecar, tmp_path, caplog):
    marker = tmp_path / "written after the sidecar died"
    result = sidecar.submit(wait_for, str(marker))
    sidecar._proc.kill()  # killed while it waits: it never replies
    sidecar._proc.join()
    marker.write_text("")
    assert result() is True  # so this True is from the call run again here
    assert "the sidecar stopped" in caplog.text and not sidecar.alive
    assert sidecar.submit(os.getpid)() == os.getpid()


def check_once_compute_started(db_url: str, program, day: dt.date) -> dict:
    """Runs in the sidecar: the real claims check, started only once this day's compute has begun here."""
    from etl.quality.validate import check_claims_at

    if not wait_for(os.environ["RELIEF_TEST_COMPUTE_STARTED"]):
        raise AssertionError("compute never started while the claims were being checked")
    return check_claims_at(db_url, program, day)


def test_run_days_computes_while_the_sidecar_checks_the_claims(ws, program, monkeypatch, tmp_path):
    """The claims check and compute overlap: the check waits for compute to begin, and the day still publishes."""
    import etl.payments.compute
    import etl.quality.validate
    from etl.daily import run_days

    marker = tmp_path / "compute started"
    monkeypatch.setenv("RELIEF_TEST_COMPUTE_STARTED", str(marker))
    monkeypatch.setattr(etl.quality.validate, "check_claims_at", check_once_compute_started)
    real_holds = etl.payments.compute.fraud_holds
    monkeypatch.setattr(etl.payments.compute, "fraud_holds", lambda *a: marker.write_text("") or real_holds(*a))
    ws.deliver("2022-10-15", [claim(receipt_no="R1")])
    [result] = run_days(ws.settings, program, dt.date(2022, 10, 15), dt.date(2022, 10, 15), validate=True)
    assert (result["payments"], result["control_sum_krw"]) == (1, 30_000)
    assert list(result["seconds"]) == ["stage", "validate_claims", "compute", "validate_payments", "publish"]
    with ws.wh.begin() as conn:
        results = conn.exec_driver_sql("select suite, success from validation_results").fetchall()
    assert sorted(tuple(r) for r in results) == [("claims_staged", 1), ("payments_batch", 1)]


def fail_the_claims_check(db_url: str, program, day: dt.date) -> dict:
    """Runs in the sidecar: the real claims check's outcome, turned into a critical failure."""
    from etl.quality.validate import check_claims_at

    outcome = check_claims_at(db_url, program, day)
    failure = {"expectation": "expect_column_values_to_be_in_set", "column": "channel", "unexpected_count": 1}
    return {**outcome, "success": False, "hard_failures": [failure]}


def test_a_failed_claims_check_beside_compute_leaves_the_day_staged(ws, program, monkeypatch):
    """As if validation had run first: ValidationFailed, compute rolled back, the failure recorded, nothing out."""
    import etl.quality.validate
    from etl.daily import run_days

    monkeypatch.setattr(etl.quality.validate, "check_claims_at", fail_the_claims_check)
    ws.deliver("2022-10-15", [claim(receipt_no="R1")])
    with pytest.raises(ValidationFailed, match=r"claims_staged failed 1 critical .*in_set\(channel\)"):
        run_days(ws.settings, program, dt.date(2022, 10, 15), dt.date(2022, 10, 15), validate=True)
    with ws.wh.begin() as conn:
        status = conn.exec_driver_sql("select status from day_runs").fetchall()
        results = conn.exec_driver_sql("select suite, success from validation_results").fetchall()
        computed = [conn.exec_driver_sql(f"select count(*) from {t}").scalar() for t in ("payments", "business_state")]
    assert [tuple(s) for s in status] == [("staged",)]
    assert [tuple(r) for r in results] == [("claims_staged", 0)]
    assert computed == [0, 0]
    assert not (ws.settings.outbox / "payments" / "2022-10-15").exists()


def test_a_compute_error_beside_a_passed_check_is_the_error_raised(ws, program, monkeypatch):
    """Compute failing on its own: the check's outcome is still collected and recorded, then compute's error."""
    import etl.payments.compute
    from etl.daily import run_days

    def broken(*args):
        raise CustomError("compute broke")

    monkeypatch.setattr(etl.payments.compute, "fraud_holds", broken)
    ws.deliver("2022-10-15", [claim(receipt_no="R1")])
    with pytest.raises(CustomError, match="compute broke"):
        run_days(ws.settings, program, dt.date(2022, 10, 15), dt.date(2022, 10, 15), validate=True)
    with ws.wh.begin() as conn:
        results = conn.exec_driver_sql("select suite, success from validation_results").fetchall()
        status = conn.exec_driver_sql("select status from day_runs").fetchall()
    assert [tuple(r) for r in results] == [("claims_staged", 1)]
    assert [tuple(s) for s in status] == [("staged",)]


@pytest.mark.postgres
def test_run_days_on_postgresql_validates_beside_compute_without_waiting_on_its_locks(pg_ws, program, monkeypatch):
    """Regression: the sidecar's first warehouse connection ran the schema script, whose `create index if not
    exists` waited for compute's transaction on PostgreSQL while compute waited for the sidecar (make bench hung
    at scale 1). The check only reads now; a hang would stop at the wait limit, set short here."""
    import etl.daily
    from etl.daily import run_days

    monkeypatch.setattr(etl.daily, "CLAIMS_CHECK_WAIT_S", 30.0)
    pg_ws.deliver("2022-10-15", [claim(receipt_no="R1"), claim(receipt_no="R2", business_reg_no=None)])
    [result] = run_days(pg_ws.settings, program, dt.date(2022, 10, 15), dt.date(2022, 10, 15), validate=True)
    assert (result["payments"], result["control_sum_krw"]) == (1, 30_000)
    with pg_ws.wh.begin() as conn:
        results = conn.exec_driver_sql("select suite, success from validation_results order by suite").fetchall()
    assert [tuple(r) for r in results] == [("claims_staged", 1), ("payments_batch", 1)]


def check_slowly(db_url: str, program, day: dt.date) -> dict:
    """Runs in the sidecar: a claims check that takes far longer than the wait limit the test sets."""
    time.sleep(30)
    raise AssertionError("the sidecar should have been stopped at the wait limit")


def test_compute_stops_at_the_wait_limit_rather_than_hang(ws, program, monkeypatch):
    """A claims check that never answers: compute gives up at the limit, rolls back, stops the sidecar, says so."""
    import etl.daily
    import etl.quality.validate
    from etl.daily import run_days

    monkeypatch.setattr(etl.daily, "CLAIMS_CHECK_WAIT_S", 1.0)
    monkeypatch.setattr(etl.quality.validate, "check_claims_at", check_slowly)
    ws.deliver("2022-10-15", [claim(receipt_no="R1")])
    started = time.monotonic()
    with pytest.raises(ReliefError, match="did not finish within 1 s; compute is rolled back"):
        run_days(ws.settings, program, dt.date(2022, 10, 15), dt.date(2022, 10, 15), validate=True)
    assert time.monotonic() - started < 20
    with ws.wh.begin() as conn:
        status = conn.exec_driver_sql("select status from day_runs").fetchall()
        results = conn.exec_driver_sql("select count(*) from validation_results").scalar()
        payments = conn.exec_driver_sql("select count(*) from payments").scalar()
    assert ([tuple(s) for s in status], results, payments) == ([("staged",)], 0, 0)


def test_a_timed_out_wait_leaves_the_call_to_collect_later(sidecar, tmp_path):
    marker = tmp_path / "written after the first wait gave up"
    result = sidecar.submit(wait_for, str(marker))
    with pytest.raises(TimeoutError, match="wait_for did not finish in the sidecar within 0 s"):
        result(timeout=0.2)
    marker.write_text("")
    assert result(timeout=30) is True and result() is True
    assert sidecar.call(os.getpid) != os.getpid()  # the same sidecar, still serving
