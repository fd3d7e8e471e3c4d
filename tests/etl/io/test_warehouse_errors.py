"""A statement PostgreSQL refuses for its values fails with a message that names where, never the values.

PostgreSQL quotes the refused values in its own messages ("Failing row contains (...)", 'invalid input syntax for
type bigint: "..."'); those messages reach logs and the Airflow UI, and a row holds account numbers and phones.
"""

from __future__ import annotations

import traceback

import pytest
import sqlalchemy as sa

from etl.io.warehouse import BulkWriter, ValuesRefused, Warehouse

ACCOUNT = "3333012345678901"  # an account number: must never be shown
PHONE = "01099990000"


def payment(**changes) -> dict:
    row = {
        "payment_id": "P1015-20221015-0000001",
        "run_date": "2022-10-15",
        "claimant_key": "1208147521",
        "business_reg_no": "1208147521",
        "payee_name": f"홍길동 {PHONE}",
        "bank_code": "088",
        "account_no": ACCOUNT,
        "account_holder": "홍길동",
        "amount_krw": 30000,
        "basis": "tier_30000",
    }
    return {**row, **changes}


def assert_hidden(err: pytest.ExceptionInfo, *where: str) -> None:
    shown = "".join(traceback.format_exception(err.value))  # the whole chain, as a log would print it
    assert ACCOUNT not in shown and PHONE not in shown, shown
    assert "the values are not shown" in shown
    for name in where:
        assert name in shown, (name, shown)
    assert err.value.__cause__ is None and err.value.__suppress_context__


@pytest.mark.postgres
def test_a_refused_row_names_the_column_and_constraint_not_the_values(pg_ws):
    with pytest.raises(ValuesRefused) as err, pg_ws.wh.begin() as conn:
        Warehouse.executemany(conn, "insert_payment", [payment(business_reg_no=None)])
    assert_hidden(err, "insert_payment", "payments", "business_reg_no", "23502")


@pytest.mark.postgres
def test_a_duplicate_key_does_not_quote_the_key_or_the_row(pg_ws):
    with pg_ws.wh.begin() as conn:
        Warehouse.executemany(conn, "insert_payment", [payment()])
    with pytest.raises(ValuesRefused) as err, pg_ws.wh.begin() as conn:
        Warehouse.run(conn, "insert_payment", **payment(payment_id="P1015-20221015-0000001"))
    assert_hidden(err, "insert_payment", "payments_pkey", "23505")
    assert "P1015-20221015-0000001" not in str(err.value)


@pytest.mark.postgres
def test_a_value_of_the_wrong_type_is_not_quoted(pg_ws):
    with pytest.raises(ValuesRefused) as err, pg_ws.wh.begin() as conn:
        BulkWriter(conn, "insert_payment").write([tuple(payment(amount_krw=ACCOUNT + "x").values())])
    assert_hidden(err, "insert_payment", "22P02")


@pytest.mark.postgres
def test_other_database_errors_keep_their_message(pg_ws, monkeypatch):
    # Only refusals of values are rewritten: a missing table, say, still says which (it quotes no row).
    monkeypatch.setattr("etl.io.warehouse.sql", lambda name: "select * from no_such_table")
    with pytest.raises(sa.exc.ProgrammingError, match="no_such_table"), pg_ws.wh.begin() as conn:
        Warehouse.rows(conn, "anything")


def test_sqlite_refusals_pass_through_naming_the_constraint(ws):
    # SQLite's messages name the constraint and never a value: they are left as they are.
    refused = "NOT NULL constraint failed: payments.business_reg_no"
    with pytest.raises(sa.exc.IntegrityError, match=refused) as err, ws.wh.begin() as conn:
        Warehouse.executemany(conn, "insert_payment", [payment(business_reg_no=None)])
    assert ACCOUNT not in "".join(traceback.format_exception(err.value))
