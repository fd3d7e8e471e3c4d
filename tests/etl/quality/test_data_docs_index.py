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


def test_the_pages_of_a_process_share_one_view_and_its_compiled_templates(tmp_path, monkeypatch):
    """A new GX page view compiled its Jinja templates again: 0.14 s of each validation's 0.2 s of Data Docs."""
    import datetime as dt

    import great_expectations.render.view as gx_view

    from etl.core import contract
    from etl.quality import validate

    made: list[object] = []

    class Counted(gx_view.DefaultJinjaPageView):
        def __init__(self, *args, **kwargs):
            made.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(gx_view, "DefaultJinjaPageView", Counted)
    validate._page_view.cache_clear()
    dummy = {"run_dates": ["2022-10-15"], "payment_id_regex": ".*", "basis_codes": [],
             "payment_columns": list(contract.PAYMENT_COLUMNS), "max_payment_krw": 1, "max_tier_krw": 1}  # fmt: skip
    outcome, result = validate._validate("payments_batch", [], contract.PAYMENT_COLUMNS, dummy)
    for day in (dt.date(2022, 10, 15), dt.date(2022, 10, 16)):
        validate._write_data_docs(tmp_path, day, outcome, result)
    validate._page_view.cache_clear()  # the next test's process-wide view is GX's own again
    assert len(made) == 1
    pages = sorted(tmp_path.glob("validations/payments_batch/*/*/result.html"))
    assert len(pages) == 2 and all(b"payments_batch" in p.read_bytes() for p in pages)
