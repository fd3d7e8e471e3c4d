"""Staging's bulk path: the per-row fast paths give what the general rules give, rows go in as tuples, and
PostgreSQL's COPY stages the same rows as SQLite's executemany, naming no value when it refuses one."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from etl.claims import identifiers, parse, stage
from etl.claims.parse import RowError, parse_claims_file, parse_timestamp, received_range
from etl.claims.stage import stage_day
from etl.io.sqlfiles import copy_columns, positional_sql
from etl.io.warehouse import BulkLoadError, BulkWriter, Warehouse
from tests.builders import Workspace, claim, claims_csv, make_brn

DAY = dt.date(2022, 10, 15)
NEVER = re.compile(r"(?!)")  # matches nothing: every value takes the general rule
DELIVERY_COLUMNS = ", ".join(Warehouse.parameters("insert_delivery"))


def mixed_file() -> bytes:
    """Valid rows in the usual and the unusual forms, a repeat, and bad rows the checks and the reader find."""
    individual = {"claimant_type": "individual", "business_reg_no": "", "bank_code": "", "account_no": ""}
    rows = [
        claim(receipt_no="R1"),
        claim(receipt_no="R2", kakao_account_id="", phone="+82 10 5550 1234", **individual),
        claim(receipt_no="R3", kakao_account_id="", phone="010-5550-1235", **individual),
        claim(receipt_no="R4", kakao_account_id="", phone="02-555-0123", **individual),
        claim(receipt_no="R5", received_at="2022-10-15T00:00:00+09:00", business_reg_no=make_brn(5)),
        claim(receipt_no="R6", received_at="2022-10-14T23:59:59+09:00"),
        claim(receipt_no="R7", received_at="2022-10-15T23:59:59+09:00", business_reg_no=make_brn(7)),
        claim(receipt_no="R8", received_at="2022-10-16T00:00:00+09:00"),
        claim(receipt_no="R9", received_at="2022-10-15T14:59:59Z", business_reg_no=make_brn(9)),
        claim(receipt_no="R10", received_at="2022-10-15T15:00:00Z"),
        claim(receipt_no="R11", received_at="2022-10-15T12:00:00.250+05:30", business_reg_no=make_brn(11)),
        claim(receipt_no="R12", received_at="2022-10-15T24:00:00+09:00"),
        claim(receipt_no="R13", received_at="2022-02-30T10:00:00+09:00"),
        claim(receipt_no="R14", received_at="2022-10-15T10:00:00+09:00 ", business_reg_no=make_brn(14)),
        claim(receipt_no="R15", received_at="2022-10-15T10:00:00+24:00"),
        claim(receipt_no="R16", paid_service=" TRUE", monetary_loss="False", business_reg_no=make_brn(16)),
        claim(receipt_no="R17", paid_service="yes"),
        claim(receipt_no="R18", claimed_loss_krw="+300", business_reg_no=make_brn(18)),
        claim(receipt_no="R19", claimed_loss_krw="٣٠٠"),
        claim(receipt_no="R20", claimed_loss_krw=str(10**12 + 1)),
        claim(receipt_no="R21", claimed_loss_krw=" 0042 ", business_reg_no=make_brn(21)),
        claim(receipt_no="R22", claimant_name="김\x07"),
        claim(receipt_no="R23", description='따옴표 "긴급", 쉼표\r\n줄바꿈', business_reg_no=make_brn(23)),
        claim(receipt_no="R1", business_reg_no=make_brn(1)),  # repeated in the file
    ]
    after_broken = claims_csv([claim(receipt_no="R24", business_reg_no=make_brn(24))]).split(b"\r\n", 1)[1]
    broken = b'R90,"unterminated\r\n' + after_broken
    broken += b"R91,2022-10-15T10:00:00+09:00,web\r\n" + b"R92,\xff\xfe" + b",x" * 14 + b"\r\n"
    return claims_csv(rows) + broken


def staged(ws, program, data: bytes) -> tuple[list[tuple], list[tuple], dict]:
    ws.deliver(DAY.isoformat(), data)
    counts = stage_day(ws.wh, ws.settings.inbox, program, DAY, "test")
    with ws.wh.begin() as conn:
        deliveries = [tuple(r) for r in conn.exec_driver_sql(f"select {DELIVERY_COLUMNS} from deliveries order by 2")]
        quarantine = [
            tuple(r)
            for r in conn.exec_driver_sql(
                "select run_date, source_file, line_no, reason, detail, raw from quarantine order by 3"
            )
        ]
    return deliveries, quarantine, dict(counts)


def test_the_fast_paths_stage_what_the_general_rules_stage(ws, program, tmp_path, monkeypatch):
    fast = staged(ws, program, mixed_file())
    monkeypatch.setattr(parse, "_HOURLY_TIMESTAMP", NEVER)
    monkeypatch.setattr(identifiers, "_PLAIN_MOBILE", NEVER)
    general = staged(Workspace(tmp_path / "general", f"sqlite:///{tmp_path / 'general.sqlite'}"), program, mixed_file())
    assert fast == general
    deliveries, quarantine, counts = fast
    assert [r[1] for r in deliveries] == [2, 3, 4, 6, 8, 10, 12, 15, 17, 19, 22, 24, 26, 28]
    assert [(r[2], r[3]) for r in quarantine] == [
        (5, "no_claimant_key"),
        (7, "received_at_out_of_range"),
        (9, "received_at_out_of_range"),
        (11, "received_at_out_of_range"),
        (13, "bad_received_at"),
        (14, "bad_received_at"),
        (16, "bad_received_at"),
        (18, "bad_boolean"),
        (20, "bad_amount"),
        (21, "amount_too_large"),
        (23, "control_character"),
        (27, "bad_quoting"),
        (29, "wrong_field_count"),
        (30, "invalid_utf8"),
    ]
    assert counts["rows_received"] == len(deliveries) + len(quarantine)


def test_staged_rows_are_the_parsed_claims(ws, program):
    deliveries, quarantine, _ = staged(ws, program, mixed_file())
    parsed = parse_claims_file(
        ws.settings.inbox / "claims_20221015.csv",
        parse.load_services(program.services_path),
        day=DAY,
        outage_date=program.outage_date,
    )
    columns = Warehouse.parameters("insert_delivery")
    as_staged = [
        tuple(
            int(row[c]) if c in ("kakao_corp", "paid_service", "monetary_loss") else row.get(c) for c in columns[1:-1]
        )
        for row in parsed.rows
    ]
    assert [r[1:-1] for r in deliveries] == as_staged
    assert [(r[2], r[3], r[4], r[5]) for r in quarantine] == [
        (q["line_no"], q["reason"], q["detail"], q["raw"]) for q in parsed.quarantined
    ]


@pytest.mark.parametrize(
    "received",
    [
        received_range(DAY, DAY),
        received_range(),
        (dt.datetime(2022, 10, 15, 3, 30, tzinfo=dt.UTC), dt.datetime(2022, 10, 15, 17, 45, 30, tzinfo=dt.UTC)),
    ],
)
def test_received_at_by_the_hour_is_parse_timestamp(received):
    by_hour = parse._ReceivedAt(received)
    for value in [
        f"2022-10-{d}T{h}:{ms}{offset}"
        for d in ("14", "15", "16")
        for h in ("00", "03", "09", "12", "14", "15", "17", "23", "24")
        for ms in ("00:00", "29:59", "30:00", "45:30", "59:59", "60:00")
        for offset in ("+09:00", "-09:00", "+00:00", "+05:30", "Z", "+24:00", "+0900")
    ]:
        try:
            expected = parse_timestamp(value, earliest=received[0], end=received[1])
        except RowError as err:
            with pytest.raises(RowError) as got:
                by_hour(value)
            assert (got.value.reason, got.value.detail) == (err.reason, err.detail), value
        else:
            assert by_hour(value) == expected, value


def test_the_copy_file_names_the_insert_files_columns_in_order():
    assert copy_columns("copy_deliveries") == Warehouse.parameters("insert_delivery") == stage._DELIVERY_ROW
    statement, names = positional_sql("insert_delivery", "pyformat")
    assert statement.count("%s") == len(names) and ":" not in statement
    assert positional_sql("insert_delivery", "qmark")[0].count("?") == len(names)


@pytest.mark.postgres
def test_postgresql_copy_stages_what_sqlite_stages(ws, pg_ws, program, monkeypatch):
    # Small batches: the COPY is written in several batches and paused for each few quarantined rows.
    monkeypatch.setattr(stage, "_BATCH", 3)
    monkeypatch.setattr(stage, "_QUARANTINE_CHARS", 100)
    assert staged(pg_ws, program, mixed_file()) == staged(ws, program, mixed_file())


@pytest.mark.postgres
def test_a_refused_copy_names_the_column_not_the_values(pg_ws):
    wh = pg_ws.wh
    secret = "김비밀-010-9999-0000"
    row = ["2022-10-15", 1, None, "2022-10-15T01:00:00.000000Z", "web", "individual", "k", secret, None, None, None]
    row += ["kakaotalk", "Kakao Corp", 1, 0, 0, None, None, None, None, secret, "accepted"]
    with (
        pytest.raises(BulkLoadError) as err,
        wh.begin() as conn,
        BulkWriter(conn, "insert_delivery", copy="copy_deliveries") as deliveries,
    ):
        deliveries.write([tuple(row)])
    message = str(err.value)
    assert "receipt_no" in message and "deliveries" in message and secret not in message
    assert err.value.__cause__ is None and err.value.__suppress_context__
    with wh.begin() as conn:
        assert conn.exec_driver_sql("select count(*) from deliveries").scalar() == 0


@pytest.mark.parametrize("workspace", ["ws", pytest.param("pg_ws", marks=pytest.mark.postgres)])
def test_a_bulk_writer_without_copy_inserts_tuples_with_executemany(request, workspace):
    wh = request.getfixturevalue(workspace).wh
    rows = [("2022-10-15", "claims_20221015.csv", n, "bad_quoting", "detail", f"raw {n}") for n in (2, 3, 4)]
    with wh.begin() as conn, BulkWriter(conn, "insert_quarantine") as quarantine:
        quarantine.write(rows[:2])
        quarantine.write(rows[2:])
    with wh.begin() as conn:
        got = conn.exec_driver_sql("select run_date, source_file, line_no, reason, detail, raw from quarantine")
        assert sorted(tuple(r) for r in got) == rows


def test_a_load_that_fails_mid_file_stops_the_read_ahead_and_keeps_nothing(ws, program, monkeypatch):
    """The file is parsed on a thread of its own while rows are inserted: an insert refused part way leaves no
    thread reading the file and no row of the day staged."""
    import threading

    from etl.io.read_ahead import read_ahead

    read: list[int] = []

    def counted(records):
        for record in records:
            read.append(record[0])
            yield record

    monkeypatch.setattr(stage, "read_ahead", lambda records: read_ahead(counted(records), batch=1, depth=1))
    monkeypatch.setattr(stage, "_BATCH", 2)
    original, writes = BulkWriter.write, 0

    def refuse_the_second(self, rows):
        nonlocal writes
        writes += 1
        if writes == 2:
            raise RuntimeError("disk full")
        original(self, rows)

    monkeypatch.setattr(BulkWriter, "write", refuse_the_second)
    ws.deliver(DAY.isoformat(), claims_csv([claim(receipt_no=f"R{n}", business_reg_no=make_brn(n)) for n in range(40)]))
    with pytest.raises(RuntimeError, match="disk full"):
        stage_day(ws.wh, ws.settings.inbox, program, DAY, "test")
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]
    assert len(read) < 40, "the file was read to its end after the insert failed"
    with ws.wh.begin() as conn:
        assert conn.exec_driver_sql("select count(*) from deliveries").scalar() == 0
