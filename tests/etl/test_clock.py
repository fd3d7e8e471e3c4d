"""Stored UTC timestamps shown in KST: the files people read."""

from __future__ import annotations

import pytest

from etl.core.clock import to_kst


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("2022-10-15T00:00:00.000000Z", "2022-10-15T09:00:00+09:00"),
        ("2022-10-15T23:59:59.123456Z", "2022-10-16T08:59:59.123456+09:00"),  # the next day in Korea
        ("2022-12-31T15:00:00.000001Z", "2023-01-01T00:00:00.000001+09:00"),
    ],
)
def test_a_stored_timestamp_is_shown_in_kst(stored, shown):
    assert to_kst(stored) == shown


@pytest.mark.parametrize(
    "bad",
    ["2022-10-15T00:00:00Z", "2022-10-15 00:00:00.000000Z", "2022-10-15T00:00:00.000000+00:00",
     "2022-13-15T00:00:00.000000Z", ""],
)  # fmt: skip
def test_anything_else_is_refused(bad):
    with pytest.raises(ValueError):
        to_kst(bad)
