"""Audit before publish: run the Great Expectations suites of `expectations/` over a day's data.

A failed critical expectation stops the day (ValidationFailed) before anything reaches the outbox;
warnings are recorded and logged. Every result is kept in the warehouse (validation_results),
passed or not. Great Expectations is imported here only, never by a DAG file (it takes seconds).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os

from etl.claims.parse import load_services
from etl.core import contract
from etl.core.config import Program
from etl.core.errors import ValidationFailed
from etl.core.resources import data_dir
from etl.io.lock import writer
from etl.io.warehouse import Warehouse
from etl.ledger import days

log = logging.getLogger(__name__)
SUITES_DIR = data_dir("expectations")
INT_COLUMNS = ("line_no", "kakao_corp", "paid_service", "monetary_loss", "claimed_loss_krw", "amount_krw")


@functools.cache
def load_suite_doc(name: str) -> dict:
    return json.loads((SUITES_DIR / f"{name}.json").read_text(encoding="utf-8"))


@functools.cache
def _batch_definition():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("relief")
    return source.add_dataframe_asset("day").add_batch_definition_whole_dataframe("day")


def _suite(name: str):
    from great_expectations.core import ExpectationSuite
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    doc = load_suite_doc(name)
    return ExpectationSuite(
        name=doc["name"],
        expectations=[
            ExpectationConfiguration(
                type=e["type"], kwargs=e["kwargs"], severity=e.get("severity", "critical"), notes=e.get("notes")
            )
            for e in doc["expectations"]
        ],
    )


def _frame(rows: list[dict], columns: list[str]):
    import pandas as pd

    # Integer columns go straight to nullable Int64: never through float (no NaN near money).
    data = {c: pd.array([r[c] for r in rows], dtype="Int64" if c in INT_COLUMNS else object) for c in columns}
    return pd.DataFrame(data, columns=columns)


def validate_rows(name: str, rows: list[dict], columns: list[str], parameters: dict) -> dict:
    """Run one suite over rows; return success, the failures by severity and the full result."""
    result = (
        _batch_definition()
        .get_batch(batch_parameters={"dataframe": _frame(rows, columns)})
        .validate(_suite(name), expectation_parameters=parameters)
    )
    hard: list[dict] = []
    soft: list[dict] = []
    for r in result.results:
        if r.success:
            continue
        cfg = r.expectation_config
        entry = {
            "expectation": cfg.type,
            "column": cfg.kwargs.get("column") or cfg.kwargs.get("column_list"),
            "unexpected_count": (r.result or {}).get("unexpected_count"),
        }
        (soft if str(getattr(cfg.severity, "value", cfg.severity)) != "critical" else hard).append(entry)
    return {"suite": name, "success": not hard, "hard_failures": hard, "soft_failures": soft,
            "result": redact(result.describe_dict())}  # fmt: skip


# Lists of offending values in a GX result: they may be account numbers, phones or business numbers.
_VALUE_LISTS = {
    "partial_unexpected_list", "unexpected_list", "partial_unexpected_counts", "partial_unexpected_index_list",
    "unexpected_index_list", "unexpected_index_query", "details",
}  # fmt: skip


def mask_value(value: object) -> str:
    """A sample value as it may be kept: its first character and its length, never the value."""
    text = str(value)
    return f"{text[:1]}…({len(text)} chars)" if len(text) > 1 else "…"


def redact(doc: object) -> object:
    """A GX result with counts and masked samples only: what `validation_results` may keep."""
    if isinstance(doc, dict):
        return {k: ([mask_value(v) for v in val][:5] if isinstance(val, list) else mask_value(val))
                if k in _VALUE_LISTS else redact(val) for k, val in doc.items()}  # fmt: skip
    if isinstance(doc, list):
        return [redact(v) for v in doc]
    return doc


def _published_summary(wh: Warehouse, day: dt.date, suite: str) -> dict | None:
    """A published day's recorded result (its data cannot change, so it is not validated again)."""
    if not days.is_published(wh, day):
        return None
    with wh.begin() as conn:
        rows = {r["suite"]: r for r in Warehouse.rows(conn, "validation_results", run_date=day.isoformat())}
    r = rows.get(suite)
    return {"suite": suite, "success": bool(r and r["success"]), "hard_failures": r["hard_failures"] if r else 0,
            "soft_failures": r["soft_failures"] if r else 0}  # fmt: skip


def _record(wh: Warehouse, day: dt.date, outcome: dict) -> None:
    with writer(wh, f"record the {outcome['suite']} result of {day}"), wh.begin() as conn:
        Warehouse.run(
            conn,
            "upsert_validation_result",
            run_date=day.isoformat(),
            suite=outcome["suite"],
            success=int(outcome["success"]),
            hard_failures=len(outcome["hard_failures"]),
            soft_failures=len(outcome["soft_failures"]),
            result_json=json.dumps(outcome["result"], default=str),
        )
    for failure in outcome["soft_failures"]:
        log.warning("%s %s: warning %s", day, outcome["suite"], failure)
    for failure in outcome["hard_failures"]:
        log.error("%s %s: FAILED %s", day, outcome["suite"], failure)
    if not outcome["success"]:
        raise ValidationFailed(
            f"{day}: suite {outcome['suite']} failed {len(outcome['hard_failures'])} critical expectation(s): "
            + "; ".join(f"{f['expectation']}({f['column']})" for f in outcome["hard_failures"])
            + ". Nothing is published; the results are kept in validation_results."
        )


def _summary(outcome: dict) -> dict:
    # What goes to XCom and the logs: counts only, never values (they may be account numbers).
    return {
        "suite": outcome["suite"],
        "success": outcome["success"],
        "hard_failures": len(outcome["hard_failures"]),
        "soft_failures": len(outcome["soft_failures"]),
    }


def validate_day_claims(wh: Warehouse, program: Program, day: dt.date) -> dict:
    """The claims_staged suite over the day's staged rows."""
    if (published := _published_summary(wh, day, "claims_staged")) is not None:
        return published
    doc_columns = load_suite_doc("claims_staged")["expectations"][0]["kwargs"]["column_set"]
    with wh.begin() as conn:
        rows = Warehouse.rows(conn, "day_deliveries", run_date=day.isoformat())
    outcome = validate_rows(
        "claims_staged",
        rows,
        doc_columns,
        {"run_dates": [day.isoformat()], "service_codes": sorted(load_services(program.services_path))},
    )
    _record(wh, day, outcome)
    return _summary(outcome)


def released_amounts(wh: Warehouse, day: dt.date) -> list[int]:
    """The above-cap amounts released for the businesses the day touched."""
    with wh.begin() as conn:
        return [int(r["amount_krw"]) for r in Warehouse.rows(conn, "cap_releases", run_date=day.isoformat())]


def validate_day_payments(wh: Warehouse, program: Program, day: dt.date) -> dict:
    """The payments_batch suite over the day's computed payment batch."""
    if (published := _published_summary(wh, day, "payments_batch")) is not None:
        return published
    with wh.begin() as conn:
        rows = Warehouse.rows(conn, "day_payments", run_date=day.isoformat())
    outcome = validate_rows(
        "payments_batch",
        rows,
        contract.PAYMENT_COLUMNS,
        {
            "run_dates": [day.isoformat()],
            "payment_id_regex": contract.payment_id_pattern(program, f"{day:%Y%m%d}"),
            "basis_codes": list(contract.basis_codes(program)),
            "payment_columns": list(contract.PAYMENT_COLUMNS),
            # A payment above the cap is in a batch only with a person's second approval (relief release).
            "max_payment_krw": max([program.max_payment_krw, *released_amounts(wh, day)]),
            "max_tier_krw": max(t.support_krw for t in program.tiers),
        },
    )
    _record(wh, day, outcome)
    return _summary(outcome)
