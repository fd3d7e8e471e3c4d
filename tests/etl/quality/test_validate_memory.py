"""A validated day's frame is not kept: GX's execution engine cached the last batch for the process's life, and a
sidecar that validated a 2-million-claim day held 1.2 GB through the day's compute (scale 100's peak RSS)."""

from __future__ import annotations

import datetime as dt
import gc

import pyarrow as pa

from etl.quality.validate import validate_day_claims
from tests.builders import claim


def claim_frames() -> list:
    import pandas as pd

    gc.collect()
    # type(), not isinstance(): asking a lazy proxy (Airflow has some) for its __class__ would import its target
    return [o for o in gc.get_objects() if type(o) is pd.DataFrame and "receipt_no" in o.columns]


def test_no_frame_and_no_arrow_memory_outlive_a_validation(ws, program):
    day = dt.date(2022, 10, 15)
    claims = [claim(receipt_no=f"R{n}") for n in range(1, 1_000)]
    ws.deliver(day.isoformat(), claims)
    from etl.claims.stage import stage_day

    stage_day(ws.wh, ws.settings.inbox, program, day, "test")
    arrow_before = pa.total_allocated_bytes()
    summary = validate_day_claims(ws.wh, program, day)
    assert summary["success"] is True
    assert claim_frames() == []
    assert pa.total_allocated_bytes() <= arrow_before


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
