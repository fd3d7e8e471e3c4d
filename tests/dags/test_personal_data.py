"""Personal data stays where it belongs, checked end to end through Airflow (issue 9).

A day with valid and malformed rows (a header-less decisions file included, whose error used to print
its first row) runs through claims_daily; then every task log, every XCom, the validation results and
the process output are scanned for the inbox's account numbers, phones and business numbers: zero hits.
Every file the run wrote is checked for its mode.
"""

from __future__ import annotations

import sqlite3
import stat

import pytest

from tests.builders import claim, make_brn

pytestmark = pytest.mark.airflow

ACCOUNTS = ["110-987-654321", "3333-01-2345678"]
PHONES = ["010-5555-1212", "010-7777-3434"]


def secrets_of(rows: list[dict]) -> set[str]:
    found = set()
    for r in rows:
        for field in ("account_no", "phone", "business_reg_no"):
            value = r.get(field, "")
            if value:
                found |= {value, value.replace("-", "")}
    return found


def test_no_account_phone_or_business_number_in_logs_xcom_or_results(airflow_home, ws):
    rows = [
        claim(receipt_no="P1", business_reg_no=make_brn(501), account_no=ACCOUNTS[0], phone=PHONES[0]),
        claim(
            receipt_no="P2",
            business_reg_no=make_brn(502),
            account_no=ACCOUNTS[1],
            phone=PHONES[1],
            claimed_loss_krw=700_000,
        ),
        # a bad account (21 digits, over the 20 allowed): long enough that a log line cannot hold it by chance (the
        # short "12-34" it replaced made the test fail whenever a timestamp's microseconds read 1234...)
        claim(receipt_no="P3", business_reg_no=make_brn(503), account_no="4821-9073-5516-2287-03915", phone=PHONES[0]),
        claim(receipt_no="P4", business_reg_no="123-45-67891", phone=PHONES[1]),  # bad check digit
    ]
    ws.deliver("2022-10-15", rows)
    (ws.settings.inbox / "decisions_20221015.csv").write_text(  # no header: the file's error names no value
        f"{make_brn(502)},approved,100000,council,2022-10-15T10:00:00+09:00\r\n", encoding="utf-8"
    )
    run = airflow_home.run_window("2022-10-15")
    assert run.states == {"2022-10-15": "failed"}, run.tail()  # the header-less decisions file stops the day
    (ws.settings.inbox / "decisions_20221015.csv").unlink()
    run2 = airflow_home.run_window("2022-10-15")
    assert run2.states == {"2022-10-15": "success"}, run2.tail()

    secrets = secrets_of(rows) | {make_brn(502)}
    assert min(map(len, secrets)) >= 10, "a short secret would be found in the logs by chance (timestamps, ids)"
    haystacks = {"process output": run.output + run2.output}
    for log in (airflow_home.home / "logs").rglob("*"):
        if log.is_file():
            haystacks[str(log)] = log.read_text(encoding="utf-8", errors="replace")
    with sqlite3.connect(airflow_home.home / "airflow.db") as db:
        haystacks["xcom"] = "\n".join(str(r) for r in db.execute("select value from xcom"))
    with ws.wh.begin() as conn:
        haystacks["validation_results"] = "\n".join(
            r[0] for r in conn.exec_driver_sql("select result_json from validation_results")
        )
    hits = [(where, s) for where, text in haystacks.items() for s in secrets if s in text]
    assert hits == [], hits[:5]

    for path in [ws.settings.outbox, *ws.settings.outbox.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o007 == 0, f"{path} is world-accessible ({oct(mode)})"
    db_file = ws.root / "warehouse.sqlite"
    assert stat.S_IMODE(db_file.stat().st_mode) == 0o600
