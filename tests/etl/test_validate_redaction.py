"""Validation results keep counts and masked samples only: no account number reaches validation_results."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from etl.quality.validate import redact
from tests.builders import claim


def test_a_failed_expectation_keeps_counts_and_masked_samples(ws, program):
    from etl.claims.stage import stage_day
    from etl.core.errors import ValidationFailed
    from etl.quality.validate import validate_day_claims

    ws.deliver("2022-10-15", [claim(receipt_no=f"R{i}") for i in range(3)])
    day = dt.date(2022, 10, 15)
    stage_day(ws.wh, ws.settings.inbox, program, day, "r1")
    with ws.wh.begin() as conn:  # an account number the suite refuses (letters), as if intake had let it through
        conn.exec_driver_sql("update deliveries set account_no = 'X110432118290'")
    with pytest.raises(ValidationFailed):
        validate_day_claims(ws.wh, program, day)
    with ws.wh.begin() as conn:
        stored = conn.exec_driver_sql("select result_json, hard_failures from validation_results").fetchall()
    assert stored and stored[0][1] >= 1
    assert "110432118290" not in stored[0][0]
    assert '"unexpected_count": 3' in stored[0][0]


def test_redact_masks_every_list_of_offending_values():
    doc = {
        "results": [
            {
                "result": {
                    "unexpected_count": 2,
                    "element_count": 9,
                    "partial_unexpected_list": ["110432118290", "01012345678"],
                    "partial_unexpected_counts": [{"value": "1234567891", "count": 1}],
                }
            }
        ]
    }
    out = json.dumps(redact(doc))
    for secret in ("110432118290", "01012345678", "1234567891"):
        assert secret not in out
    assert '"unexpected_count": 2' in out and '"element_count": 9' in out


def test_the_frame_is_built_from_streamed_batches_without_floats():
    from etl.quality import validate

    n = 2 * 1000 + 7
    rows = [(i, f"R{i}", None if i % 2 else 10**12 + i, 7 if i % 3 else None) for i in range(n)]
    batches = iter([rows[:1000], [], rows[1000:2000], rows[2000:]])  # streamed, an empty batch among them
    frame = validate._frame(batches, ["line_no", "receipt_no", "claimed_loss_krw", "phone"])
    assert len(frame) == n and list(frame.columns) == ["line_no", "receipt_no", "claimed_loss_krw", "phone"]
    assert str(frame["claimed_loss_krw"].dtype) == "Int64" and str(frame["line_no"].dtype) == "Int64"
    assert frame["claimed_loss_krw"][n - 1] == 10**12 + n - 1  # whole won, never through float
    assert frame["claimed_loss_krw"].isna().sum() == n // 2
    assert str(frame["receipt_no"].dtype).startswith("string") and frame["receipt_no"][n - 1] == f"R{n - 1}"
    assert frame["phone"][1] == "7" and frame["phone"].isna().sum() == len(range(0, n, 3))  # text columns are text
