"""The Data Docs index lists a day's validations newest first, even two within the same second (seen in CI)."""

from __future__ import annotations

from etl.quality.validate import _validation_order


def _entry(page_folder: str, validated_at: str = "2026-11-29T16:41:10+00:00") -> dict:
    return {"validated_at": validated_at, "page": f"validations/claims_staged/2022-10-15/{page_folder}/result.html"}


def test_a_second_validation_within_the_same_second_is_newer():
    first, second, third = _entry("20261129T164110Z"), _entry("20261129T164110Z-2"), _entry("20261129T164110Z-10")
    ordered = sorted([first, third, second], key=_validation_order, reverse=True)
    assert ordered == [third, second, first]


def test_a_later_second_beats_a_numbered_folder_of_an_earlier_second():
    earlier = _entry("20261129T164110Z-3")
    later = _entry("20261129T164111Z", validated_at="2026-11-29T16:41:11+00:00")
    assert sorted([earlier, later], key=_validation_order, reverse=True) == [later, earlier]
