"""The claims suite over frames of a few rows gives the result one frame of the whole day gives.

A day of two million claims was validated as one frame of 0.5 GB, and the check peaked at 1.5 GB beside compute
(scale 100's peak RSS). It now runs over frames of CLAIMS_CHUNK_ROWS rows, the results merged.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from etl.quality import validate

DAY = "2022-10-15"
COLUMNS = ["run_date", "line_no", "receipt_no", "received_at", "channel", "claimant_type", "claimant_key",
           "business_reg_no", "phone", "service", "kakao_corp", "paid_service", "monetary_loss", "claimed_loss_krw",
           "bank_code", "account_no", "outcome"]  # fmt: skip
PARAMETERS = {"run_dates": [DAY], "service_codes": ["kakaotalk", "kakaomap"]}


def row(line_no: int, **changes) -> tuple:
    values = {
        "run_date": DAY, "line_no": line_no, "receipt_no": f"R{line_no}", "received_at": "2022-10-15T01:00:00.000000Z",
        "channel": "web", "claimant_type": "small_business", "claimant_key": f"K{line_no}",
        "business_reg_no": "1208147521", "phone": "01012345678", "service": "kakaotalk", "kakao_corp": 1,
        "paid_service": 0, "monetary_loss": 1, "claimed_loss_krw": 100_000, "bank_code": "088",
        "account_no": "110432118290", "outcome": "accepted",
    }  # fmt: skip
    values.update(changes)
    return tuple(values[c] for c in COLUMNS)


def day_rows() -> list[tuple]:
    """Twenty rows with failures spread over what become different frames: a null key, a service not in the set,
    a malformed phone, a short account (a warning), a negative loss, two rows with the same line number."""
    rows = [row(n) for n in range(1, 21)]
    rows[1] = row(2, claimant_key=None)
    rows[4] = row(5, service="kakaobank", phone=None)
    rows[8] = row(9, phone="0101234")
    rows[11] = row(12, account_no="12345")
    rows[15] = row(16, claimed_loss_krw=-1, business_reg_no=None)
    rows[18] = row(18)  # line 18 twice (18, 18): the compound key is not unique
    return rows


def outcome(rows: list[tuple], chunk_rows: int | None, batch: int = 4) -> dict:
    batches = [rows[i : i + batch] for i in range(0, len(rows), batch)]
    result, _ = validate._validate("claims_staged", iter(batches), COLUMNS, PARAMETERS, chunk_rows=chunk_rows)
    return result


def comparable(doc: object) -> object:
    """A result without what depends on the frame it ran on: GX's index queries (row numbers within a frame)
    and its batch markers, ids and times."""
    if isinstance(doc, dict):
        return {k: comparable(v) for k, v in doc.items() if k not in ("unexpected_index_query", "meta", "id")}
    if isinstance(doc, list):
        return [comparable(v) for v in doc]
    return doc


@pytest.mark.parametrize(("chunk_rows", "batch"), [(3, 4), (5, 2), (7, 1), (19, 4)])
def test_frames_of_a_few_rows_give_the_result_of_one_frame(chunk_rows, batch):
    whole = outcome(day_rows(), None)
    chunked = outcome(day_rows(), chunk_rows, batch)
    assert not whole["success"] and [f["column"] for f in whole["hard_failures"]] == [
        ["run_date", "line_no"], "claimant_key", "service", "phone", "claimed_loss_krw"]  # fmt: skip
    assert [f["column"] for f in whole["soft_failures"]] == ["account_no"]
    assert comparable(chunked) == comparable(whole)


def test_a_clean_day_in_frames_passes_with_every_count():
    rows = [row(n) for n in range(1, 12)]
    chunked = outcome(rows, 4, 3)
    assert chunked["success"] and chunked["hard_failures"] == [] and chunked["soft_failures"] == []
    stats = chunked["result"]["statistics"]
    assert stats["evaluated_expectations"] == stats["successful_expectations"] == 26
    counts = {r["result"].get("element_count") for r in chunked["result"]["expectations"]} - {None}
    assert counts == {11}


def test_no_frame_splits_a_key_and_each_batch_goes_in_whole():
    rows = [row(n) for n in (1, 2, 3, 3, 3, 4, 5, 6, 6, 7)]
    batches = [rows[i : i + 3] for i in range(0, len(rows), 3)]
    seen = [list(frame["line_no"]) for frame in validate._frames(iter(batches), COLUMNS, 2, [0, 1])]
    assert [n for frame in seen for n in frame] == [1, 2, 3, 3, 3, 4, 5, 6, 6, 7]
    for before, after in itertools.pairwise(seen):
        assert before[-1] != after[0]
    assert all(len(frame) >= 2 for frame in seen[:-1])


def test_an_empty_day_is_one_empty_frame():
    frames = list(validate._frames(iter([]), COLUMNS, 3, [0, 1]))
    assert [len(f) for f in frames] == [0]
    assert outcome([], 3)["success"]


def test_a_day_validated_in_frames_records_what_one_frame_records(ws, program, monkeypatch):
    from etl.claims.stage import stage_day
    from etl.core.errors import ValidationFailed
    from tests.builders import claim

    day = dt.date(2022, 10, 15)
    ws.deliver(day.isoformat(), [claim(receipt_no=f"R{i}") for i in range(9)])
    stage_day(ws.wh, ws.settings.inbox, program, day, "r1")
    with ws.wh.begin() as conn:  # two accounts the suite refuses, far apart in the file
        conn.exec_driver_sql("update deliveries set account_no = 'X1' where line_no in (2, 10)")

    def stored() -> tuple:
        with pytest.raises(ValidationFailed), ws.wh.begin():
            validate.validate_day_claims(ws.wh, program, day)
        with ws.wh.begin() as conn:
            return conn.exec_driver_sql("select success, hard_failures, soft_failures from validation_results").one()

    one_frame = stored()
    sizes: list[int] = []
    build = validate._frame
    monkeypatch.setattr(validate, "_frame", lambda *args: sizes.append(len(frame := build(*args))) or frame)
    monkeypatch.setattr(validate, "CLAIMS_CHUNK_ROWS", 2)
    assert stored() == one_frame == (0, 1, 1)
    assert sum(sizes) == 9 and len(sizes) >= 4, sizes
