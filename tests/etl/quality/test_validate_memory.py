"""A validated day's frame is not kept: GX's execution engine cached the last batch for the process's life, and a
sidecar that validated a 2-million-claim day held 1.2 GB through the day's compute (scale 100's peak RSS)."""

from __future__ import annotations

import datetime as dt
import gc

import pyarrow as pa

from etl.quality.validate import validate_day_claims
from tests.builders import claim


def claim_frames(collect: bool = True) -> list:
    """The claims frames still in memory: after a collection, those kept; without one, any in a cycle too."""
    import pandas as pd

    if collect:
        gc.collect()
    # type(), not isinstance(): asking a lazy proxy (Airflow has some) for its __class__ would import its target
    return [o for o in gc.get_objects() if type(o) is pd.DataFrame and "receipt_no" in o.columns]


def _staged(ws, program, claims: int) -> dt.date:
    from etl.claims.stage import stage_day

    day = dt.date(2022, 10, 15)
    ws.deliver(day.isoformat(), [claim(receipt_no=f"R{n}") for n in range(1, claims + 1)])
    stage_day(ws.wh, ws.settings.inbox, program, day, "test")
    return day


def test_no_frame_and_no_arrow_memory_outlive_a_big_validation(ws, program, monkeypatch):
    from etl.quality import validate

    monkeypatch.setattr(validate, "RELEASE_FROM_ROWS", 999)  # this day's frame counts as big
    day = _staged(ws, program, 999)
    arrow_before = pa.total_allocated_bytes()
    summary = validate_day_claims(ws.wh, program, day)
    assert summary["success"] is True
    assert claim_frames(collect=False) == []  # given back by the validation, not by a later collection
    assert pa.total_allocated_bytes() <= arrow_before


def test_a_small_validation_does_not_pay_for_a_full_collection(ws, program, monkeypatch):
    """A full collection in a process holding GX took 0.18 s: half of validating a small day. A small frame's
    cycles are left to Python's collector; nothing keeps the frame."""
    from etl.quality import validate

    day = _staged(ws, program, 99)
    collections: list[int] = []
    monkeypatch.setattr(validate.gc, "collect", lambda *a: collections.append(1) or 0)
    assert validate_day_claims(ws.wh, program, day)["success"] is True
    assert collections == []
    monkeypatch.undo()
    assert claim_frames() == []


def test_gx_does_not_hash_the_frame_for_a_batch_marker_nothing_reads():
    """Half of a 2-million-claim day's validation (4-8 s, 0.4 GB) was GX hashing the frame for its batch marker."""
    from etl.core import contract
    from etl.quality.validate import _validate

    dummy = {"run_dates": ["2022-10-15"], "payment_id_regex": ".*", "basis_codes": [],
             "payment_columns": list(contract.PAYMENT_COLUMNS), "max_payment_krw": 1, "max_tier_krw": 1}  # fmt: skip
    _, result = _validate("payments_batch", [], contract.PAYMENT_COLUMNS, dummy)
    markers = result.meta["batch_markers"]
    assert "ge_load_time" in markers  # the markers are there,
    assert "pandas_data_fingerprint" not in markers  # without the hash
