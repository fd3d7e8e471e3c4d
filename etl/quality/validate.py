"""Audit before publish: run the Great Expectations suites of `expectations/` over a day's data.

A failed critical expectation stops the day (ValidationFailed) before anything reaches the outbox;
warnings are recorded and logged. Every result is kept in the warehouse (validation_results),
passed or not. Great Expectations is imported here only, never by a DAG file (it takes seconds).

Given an outbox (`outbox=`, what the Airflow tasks pass), each validation also writes GX's Data Docs
for people to read: `reports/DAY/data_docs/index.html` lists every validation of that day (a rejected
and recomputed day keeps each run's page), with one page per result under `validations/` and one per
suite under `expectations/`. The pages are built from the redacted result (counts and masked samples,
never a value), work offline (no script or style sheet from the internet) and are written like every
outbox file (0640, atomically); earlier days' and runs' pages are never removed.
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import html
import json
import logging
import multiprocessing
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from etl.claims.parse import load_services
from etl.core import contract
from etl.core.clock import audit_now
from etl.core.config import Program
from etl.core.errors import ValidationFailed
from etl.core.resources import data_dir
from etl.core.sidecar import SIDECAR_NAME
from etl.io.lock import writer
from etl.io.outbox import ensure_dir, write_atomic
from etl.io.warehouse import Warehouse
from etl.ledger import days

log = logging.getLogger(__name__)
SUITES_DIR = data_dir("expectations")
# The claims suite runs over frames of about this many rows (day_deliveries gives them in key order): a day of two
# million claims was one frame of 0.5 GB, and its check peaked at 1.5 GB beside compute; a frame of 500,000 rows
# peaks at about 0.5 GB, and a day below it is one frame, as before.
CLAIMS_CHUNK_ROWS = 500_000
# A validated frame of this many rows is given back at once (_release_memory); a smaller one's reference cycles are
# left to Python's collector: a full collection in a process holding GX takes about 0.18 s, more than validating a
# 10,000-row day, and a small frame holds little.
RELEASE_FROM_ROWS = 100_000
INT_COLUMNS = ("line_no", "kakao_corp", "paid_service", "monetary_loss", "claimed_loss_krw", "amount_krw")


@functools.cache
def load_suite_doc(name: str) -> dict:
    return json.loads((SUITES_DIR / f"{name}.json").read_text(encoding="utf-8"))


@functools.cache
def _batch_definition():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    preloaded = "great_expectations" in sys.modules
    started = time.perf_counter()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    in_sidecar = multiprocessing.current_process().name == SIDECAR_NAME
    if preloaded:  # a Celery worker's fork (etl.quality.preload) or relief's sidecar: GX is already in memory
        log.info("Great Expectations: preloaded by %s", "the relief sidecar" if in_sidecar else "the worker")
    else:
        by = "the relief sidecar" if in_sidecar else "this process"
        log.info("Great Expectations: imported in %.1f s by %s", time.perf_counter() - started, by)

    # GX makes (disabled) progress bars, and tqdm's default lock is a multiprocessing semaphore, which the relief
    # sidecar (it ends with os._exit) would leave behind for a resource-tracker warning. One thread validates
    # here: a thread lock does.
    import threading

    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())
    _no_batch_fingerprint()
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


def _chunk_key(name: str, columns: Sequence[str]) -> list[int]:
    """The positions in `columns` of the suite's compound unique key (none: any cut will do)."""
    keys = [e["kwargs"]["column_list"] for e in load_suite_doc(name)["expectations"]
            if e["type"] == "expect_compound_columns_to_be_unique"]  # fmt: skip
    return [list(columns).index(c) for c in keys[0]] if keys else []


def _frames(
    batches: Iterable[Sequence[Sequence]], columns: Sequence[str], chunk_rows: int | None, key: list[int] | None
) -> Iterator[Any]:
    """The rows as frames of at least `chunk_rows` rows (the last may be smaller; all in one without a size), and
    always at least one frame, even of no rows. Each batch goes into Arrow as it arrives (never a chunk's worth of
    Python rows), and no key's rows are split between two frames (`_key_aligned`)."""
    if not chunk_rows:
        yield _frame(batches, columns)
        return
    aligned = _key_aligned(batches, key or [])
    yielded = False
    while True:
        taken = 0

        def up_to_a_chunk() -> Iterator[Sequence[Sequence]]:
            nonlocal taken
            for batch in aligned:
                taken += len(batch)
                yield batch
                if taken >= chunk_rows:
                    return

        frame = _frame(up_to_a_chunk(), columns)
        if taken == 0 and yielded:
            return
        yield frame
        yielded = True
        if taken < chunk_rows:
            return


def _key_aligned(batches: Iterable[Sequence[Sequence]], key: list[int]) -> Iterator[Sequence[Sequence]]:
    """The batches again, each one's rows of its last key held back for the next: rows come in key order, so a
    key's rows (a duplicate key's too) always end up in the same batch, and so in the same frame."""
    carry: list[Sequence] = []
    for batch in batches:
        rows = [*carry, *batch] if carry else batch
        if not key:
            if rows:
                yield rows
            continue
        if not rows:
            continue
        last = [rows[-1][k] for k in key]
        cut = len(rows)
        while cut > 0 and [rows[cut - 1][k] for k in key] == last:
            cut -= 1
        carry = list(rows[cut:])
        if cut:
            yield rows[:cut]
    if carry:
        yield carry


def _merge_results(results: list[Any]) -> Any:
    """One suite result from the results of its frames, as a single frame of all the rows would give it: counts
    summed, the percentages recomputed as GX computes them, samples joined (up to GX's 20), an expectation
    successful only where it succeeded on every frame. The first frame's result object carries the merge."""
    merged = results[0]
    if len(results) == 1:
        return merged
    for position, first in enumerate(merged.results):
        parts = [r.results[position] for r in results]
        first.success = all(p.success for p in parts)
        first.result = _merged_counts([p.result or {} for p in parts])
        raised = next((p.exception_info for p in parts if _raised(p.exception_info)), None)
        if raised is not None:
            first.exception_info = raised
    evaluated = len(merged.results)
    successful = sum(1 for r in merged.results if r.success)
    merged.success = successful == evaluated
    merged.statistics.update(
        evaluated_expectations=evaluated,
        successful_expectations=successful,
        unsuccessful_expectations=evaluated - successful,
        success_percent=successful / evaluated * 100 if evaluated else None,
    )
    return merged


def _raised(info: Any) -> bool:
    return isinstance(info, dict) and bool(info.get("raised_exception"))


_PARTIAL_UNEXPECTED = 20  # GX's partial_unexpected_count for BASIC


def _merged_counts(parts: list[dict]) -> dict:
    """One expectation's BASIC result over all frames (see GX's _format_map_output for the percentages)."""
    merged = dict(parts[0])
    if "element_count" not in merged:  # a table expectation (the columns): the same on every frame
        return merged
    elements = sum(p.get("element_count") or 0 for p in parts)
    merged["element_count"] = elements
    unexpected = None
    if any(p.get("unexpected_count") is not None for p in parts):
        unexpected = sum(p.get("unexpected_count") or 0 for p in parts)
    merged["unexpected_count"] = unexpected
    samples = [p["partial_unexpected_list"] for p in parts if isinstance(p.get("partial_unexpected_list"), list)]
    if samples:
        merged["partial_unexpected_list"] = [v for values in samples for v in values][:_PARTIAL_UNEXPECTED]
    has_missing = "missing_count" in merged
    missing = sum(p.get("missing_count") or 0 for p in parts) if has_missing else 0
    total = nonmissing = missing_percent = None
    if unexpected is not None and elements > 0:
        total = unexpected / elements * 100
        if has_missing:
            missing_percent = missing / elements * 100
            nonmissing = unexpected / (elements - missing) * 100 if elements > missing else None
        else:
            nonmissing = total
    if has_missing:
        merged.update(
            missing_count=missing,
            missing_percent=missing_percent,
            unexpected_percent_total=total,
            unexpected_percent_nonmissing=nonmissing,
        )
    merged["unexpected_percent"] = nonmissing
    return merged


def _frame(batches: Iterable[Sequence[Sequence]], columns: Sequence[str]):
    """The rows (batches of rows in `columns` order, streamed) as a pandas frame backed by Arrow arrays.

    Built a batch at a time, never as one dict per row: a 2-million-row day is a few hundred MB of Arrow
    strings, not gigabytes of Python objects. Integer columns are nullable Int64 (never float: no NaN near
    money); everything else is text (a value the driver gave as another type is turned to text).
    """
    import pandas as pd
    import pyarrow as pa

    types = [pa.int64() if c in INT_COLUMNS else pa.string() for c in columns]
    chunks: list[list[Any]] = [[] for _ in columns]
    for batch in batches:
        if not batch:
            continue
        for chunk, values, kind in zip(chunks, zip(*batch), types):
            try:
                chunk.append(pa.array(values, type=kind))
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                if kind != pa.string():
                    raise
                chunk.append(pa.array([v if v is None else str(v) for v in values], type=kind))
    table = pa.table([pa.chunked_array(c, type=t) for c, t in zip(chunks, types)], names=list(columns))
    mapper = {pa.int64(): pd.Int64Dtype(), pa.string(): pd.StringDtype("pyarrow")}
    frame = table.to_pandas(types_mapper=mapper.get)
    del table, chunks
    # The integer columns' chunks were converted into the frame's own arrays (the text columns share theirs):
    # about 80 MB on a 2M-row day, given back before the validation's own temporaries.
    pa.default_memory_pool().release_unused()
    return frame


def _validate(
    name: str,
    batches: Iterable[Sequence[Sequence]],
    columns: Sequence[str],
    parameters: dict,
    chunk_rows: int | None = None,
) -> tuple[dict, Any]:
    """Run one suite over rows (batches of rows in `columns` order): success, the failures by severity and the
    redacted result, and GX's result object (for the Data Docs).

    Given `chunk_rows`, the rows are validated a frame of about that many rows at a time and the results merged
    (`_merge_results`) into the one a single frame gives: memory follows the chunk, not the day. The rows must then
    come in the order of the suite's compound key (`_chunk_key`), so that no key is split between two frames.
    """
    key = _chunk_key(name, columns) if chunk_rows else None
    results = []
    for frame in _frames(batches, columns, chunk_rows, key):
        rows = len(frame)
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
        del frame
        try:
            # BASIC: counts and a sample of offending values (masked before anything keeps them). SUMMARY's value
            # counts and index lists cost a third of a validation's time and would be masked away.
            results.append(batch.validate(_suite(name), expectation_parameters=parameters, result_format="BASIC"))
        finally:
            _forget(batch)
            del batch
            if rows >= RELEASE_FROM_ROWS:
                _release_memory()
    result = _merge_results(results)
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
    outcome = {"suite": name, "success": not hard, "hard_failures": hard, "soft_failures": soft,
               "result": redact(result.describe_dict())}  # fmt: skip
    return outcome, result


def _no_batch_fingerprint() -> None:
    """Stop GX hashing every frame below 1 GB for its batch marker (`pandas_data_fingerprint`), which nothing here
    reads: on a 2-million-claim day the hash took 4-8 s and 0.4 GB, half of the validation. The day's identity is
    its run date in `validation_results`. GX reads the threshold at each batch; if a release renames it, the
    hash comes back (slower, nothing wrong), and this says so."""
    from great_expectations.execution_engine import pandas_execution_engine

    if hasattr(pandas_execution_engine, "HASH_THRESHOLD"):
        pandas_execution_engine.HASH_THRESHOLD = 0
    else:
        log.warning("Great Expectations has no HASH_THRESHOLD any more: each batch is hashed again (slower)")


def _forget(batch: Any) -> None:
    """Drop the batch (and its frame) from the execution engine's caches, where GX keeps the last one for the
    process's life: a sidecar that validated a 2-million-claim day held 1.2 GB through the day's compute."""
    manager = batch.data.execution_engine.batch_manager
    manager.reset_batch_cache()
    manager.batch_data_cache.clear()


def _release_memory() -> None:
    """Give a validated frame's memory back: GX's objects hold it in reference cycles, and Arrow's allocator keeps
    freed pages (after a 2-million-claim day, 1.3 GB down to 0.5 GB)."""
    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()


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
    if (failure := validation_failure(day, outcome)) is not None:
        raise failure


def _summary(outcome: dict, docs: Path | None = None) -> dict:
    # What goes to XCom and the logs: counts only, never values (they may be account numbers).
    summary = {
        "suite": outcome["suite"],
        "success": outcome["success"],
        "hard_failures": len(outcome["hard_failures"]),
        "soft_failures": len(outcome["soft_failures"]),
    }
    if docs is not None:
        summary["data_docs"] = str(docs)
    return summary


# ---------------------------------------------------------------------------------------------
# Data Docs: GX's pages for people, per day under the outbox's reports/DAY/data_docs/

DATA_DOCS = "data_docs"
# What a GX page would fetch from the internet (style sheets, scripts, the logo): dropped, so a page
# opens offline and a finance machine that opens it makes no request to a third party.
_REMOTE_ASSET = re.compile(
    r"<script\b[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>|<link\b[^>]*\bhref=\"https?://[^\"]*\"[^>]*>"
    r"|<img\b[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>",
    re.IGNORECASE,
)
_OFFLINE_STYLE = (
    "<style>body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;vertical-align:top}"
    ".collapse:not(.show){display:block}</style>"
)


def data_docs_dir(outbox: Path, day: dt.date) -> Path:
    """Where a day's Data Docs are: `reports/DAY/data_docs/` (its index.html is the page to open)."""
    return Path(outbox) / "reports" / day.isoformat() / DATA_DOCS


def _offline(page: str) -> str:
    page = _REMOTE_ASSET.sub("", page)
    return page.replace("</head>", _OFFLINE_STYLE + "</head>", 1)


def _page_result(result: dict) -> dict:
    """One expectation's result as a page may show it: counts, and samples masked in the shapes GX renders."""
    shown: dict = {}
    for key, value in result.items():
        if key == "partial_unexpected_counts" and isinstance(value, list):
            shown[key] = [
                {"value": mask_value(v.get("value")), "count": v.get("count")} for v in value[:5] if isinstance(v, dict)
            ]
        elif key in ("partial_unexpected_list", "unexpected_list") and isinstance(value, list):
            shown[key] = [mask_value(v) for v in value][:5]
        elif key not in _VALUE_LISTS:  # index lists, queries and details are left out
            shown[key] = redact(value)
    return shown


def _redact_result(result: Any) -> Any:
    """The GX result as a page may show it: each expectation's result with counts and masked samples only."""
    for r in result.results:
        r.result = _page_result(r.result or {})
        info = r.exception_info
        if isinstance(info, dict) and "raised_exception" in info:
            raised = bool(info.get("raised_exception"))
            r.exception_info = {
                "raised_exception": raised,
                "exception_message": "an exception was raised (not shown: it may hold data)" if raised else None,
                "exception_traceback": None,
            }
    return result


def _data_docs(outbox: Path | None, day: dt.date, outcome: dict, result: Any) -> Path | None:
    """Write this validation's Data Docs page and the day's index; the day's folder, or None without an outbox.

    A failure here never hides the validation's own outcome: it is logged and the day goes on.
    """
    if outbox is None:
        return None
    folder = data_docs_dir(outbox, day)
    try:
        _write_data_docs(folder, day, outcome, result)
    except Exception as exc:  # the pages are for people; the result itself is recorded regardless
        log.warning("%s: Data Docs for %s not written (%s: %s)", day, outcome["suite"], type(exc).__name__, exc)
        return None
    log.info("%s %s: Data Docs at %s", day, outcome["suite"], (folder / "index.html").as_uri())
    return folder


@functools.cache
def _page_view() -> Any:
    """One page view per process: each new one builds a Jinja environment and compiles GX's templates again
    (0.14 s of a validation's 0.2 s of Data Docs)."""
    from great_expectations.render.view import DefaultJinjaPageView

    return DefaultJinjaPageView()


def _write_data_docs(folder: Path, day: dt.date, outcome: dict, result: Any) -> None:
    from great_expectations.render.renderer import ExpectationSuitePageRenderer, ValidationResultsPageRenderer

    name = outcome["suite"]
    validated_at = audit_now()
    stamp = re.sub(r"[^0-9T]", "", validated_at.split("+")[0]) + "Z"
    runs = folder / "validations" / name / day.isoformat()
    page_dir = runs / stamp
    n = 1
    while page_dir.exists():  # two validations of a suite within a second: keep both
        n += 1
        page_dir = runs / f"{stamp}-{n}"
    try:  # the page's "Run Name" and "Run Time": the day and when it was validated
        from great_expectations.core.run_identifier import RunIdentifier

        result.meta["run_id"] = RunIdentifier(
            run_name=day.isoformat(), run_time=dt.datetime.fromisoformat(validated_at)
        )
    except Exception:
        pass
    view = _page_view()
    # GX's layout: validations/SUITE/RUN/TIME/PAGE.html links to ../../../../index.html and the suite's page.
    page = view.render(ValidationResultsPageRenderer().render(_redact_result(result)))
    write_atomic(ensure_dir(page_dir) / "result.html", _offline(page).encode("utf-8"))
    entry = {
        "suite": name,
        "day": day.isoformat(),
        "validated_at": validated_at,
        "success": outcome["success"],
        "hard_failures": len(outcome["hard_failures"]),
        "soft_failures": len(outcome["soft_failures"]),
        "page": (page_dir / "result.html").relative_to(folder).as_posix(),
    }
    write_atomic(page_dir / "result.json", (json.dumps(entry, indent=2) + "\n").encode("utf-8"))
    suite_page = view.render(ExpectationSuitePageRenderer().render(_suite(name)))
    write_atomic(ensure_dir(folder / "expectations") / f"{name}.html", _offline(suite_page).encode("utf-8"))
    write_atomic(folder / "index.html", _index_page(folder, day).encode("utf-8"))


def _validation_order(entry: dict) -> tuple[str, int]:
    """When a validation ran: its time, then its place within that second (a page folder `STAMP-N` is the Nth)."""
    run_folder = entry["page"].rsplit("/", 2)[-2]
    _, _, n = run_folder.partition("-")
    return entry["validated_at"], int(n) if n.isdigit() else 1


def _index_page(folder: Path, day: dt.date) -> str:
    """The day's index: every validation kept under the folder, newest first."""
    entries = []
    for path in sorted((folder / "validations").glob("*/*/*/result.json")):
        try:
            entries.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    entries.sort(key=_validation_order, reverse=True)
    rows = "\n".join(
        '<tr><td>{validated_at}</td><td><a href="expectations/{suite}.html">{suite}</a></td><td>{status}</td>'
        '<td>{hard}</td><td>{soft}</td><td><a href="{page}">result</a></td></tr>'.format(
            validated_at=html.escape(e["validated_at"]),
            suite=html.escape(e["suite"]),
            status="passed" if e["success"] else "<b>FAILED</b>",
            hard=int(e["hard_failures"]),
            soft=int(e["soft_failures"]),
            page=html.escape(e["page"]),
        )
        for e in entries
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>Data Docs {day}</title>{_OFFLINE_STYLE}</head>'
        f"<body><h1>Data Docs: {day}</h1><p>Great Expectations validations of the intake day {day}, newest first"
        " (a recomputed day keeps every run's result). Samples of offending values are masked.</p>"
        "<table><thead><tr><th>validated at (UTC)</th><th>suite</th><th>result</th><th>critical failures</th>"
        f"<th>warnings</th><th>page</th></tr></thead><tbody>\n{rows}\n</tbody></table></body></html>\n"
    )


def validate_day_claims(wh: Warehouse, program: Program, day: dt.date, outbox: Path | None = None) -> dict:
    """The claims_staged suite over the day's staged rows (and its Data Docs, given an outbox)."""
    if (published := _published_summary(wh, day, "claims_staged")) is not None:
        return published
    outcome, result = _check_claims(wh, program, day)
    docs = _data_docs(outbox, day, outcome, result)
    _record(wh, day, outcome)
    return _summary(outcome, docs)


def _check_claims(wh: Warehouse, program: Program, day: dt.date) -> tuple[dict, Any]:
    with wh.begin() as conn:  # the rows stream from the cursor into the frame: never all at once as Python rows
        size = min(50_000, CLAIMS_CHUNK_ROWS)  # a frame is cut between two batches
        keys, batches = Warehouse.stream(conn, "day_deliveries", size=size, run_date=day.isoformat())
        return _validate(
            "claims_staged",
            batches,
            keys,
            {"run_dates": [day.isoformat()], "service_codes": sorted(load_services(program.services_path))},
            chunk_rows=CLAIMS_CHUNK_ROWS,
        )


def check_claims_at(db_url: str, program: Program, day: dt.date) -> dict:
    """The claims_staged suite's outcome over an unpublished day's staged rows, written nowhere.

    What `relief run-day`'s sidecar runs while this process computes the day (compute never changes the staged
    rows, and reads see them as committed). `keep_outcome` then records it, after compute's transaction:
    a failed outcome rolls compute back (compute_day's gate), so a day that failed it is left staged, as when
    validation runs first. It only reads, and takes no lock a writer holds (Warehouse._ensure_schema runs no DDL
    on a current warehouse: on PostgreSQL it would wait for compute's transaction, which waits for this outcome).
    """
    return _check_claims(Warehouse(db_url), program, day)[0]


def validation_failure(day: dt.date, outcome: dict) -> ValidationFailed | None:
    """The error a failed outcome stops the day with (None when it passed)."""
    if outcome["success"]:
        return None
    return ValidationFailed(
        f"{day}: suite {outcome['suite']} failed {len(outcome['hard_failures'])} critical expectation(s): "
        + "; ".join(f"{f['expectation']}({f['column']})" for f in outcome["hard_failures"])
        + ". Nothing is published; the results are kept in validation_results."
    )


def keep_outcome(wh: Warehouse, day: dt.date, outcome: dict) -> dict:
    """Record a check_claims_at or check_payments_at outcome in validation_results, in the process that holds the
    writer lock: its summary, or ValidationFailed if it failed."""
    _record(wh, day, outcome)
    return _summary(outcome)


def released_amounts(wh: Warehouse, day: dt.date) -> list[int]:
    """The above-cap amounts released for the businesses the day touched."""
    with wh.begin() as conn:
        return [int(r["amount_krw"]) for r in Warehouse.rows(conn, "cap_releases", run_date=day.isoformat())]


def validate_day_payments(wh: Warehouse, program: Program, day: dt.date, outbox: Path | None = None) -> dict:
    """The payments_batch suite over the day's computed payment batch (and its Data Docs, given an outbox)."""
    if (published := _published_summary(wh, day, "payments_batch")) is not None:
        return published
    outcome, result = _check_payments(wh, program, day)
    docs = _data_docs(outbox, day, outcome, result)
    _record(wh, day, outcome)
    return _summary(outcome, docs)


def check_payments_at(db_url: str, program: Program, day: dt.date) -> dict:
    """The payments_batch suite's outcome over an unpublished day's batch, written nowhere: `relief run-day` holds
    the writer lock for its whole day, so its sidecar only checks, and the run records (keep_outcome)."""
    return _check_payments(Warehouse(db_url), program, day)[0]


def _check_payments(wh: Warehouse, program: Program, day: dt.date) -> tuple[dict, Any]:
    with wh.begin() as conn:
        rows = Warehouse.rows(conn, "day_payments", run_date=day.isoformat())
    return _validate(
        "payments_batch",
        [[[r[c] for c in contract.PAYMENT_COLUMNS] for r in rows]],
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


def warm_up() -> None:
    """Validate an empty frame against each suite and render its Data Docs page, keeping nothing.

    A first validation in a process pays about 0.3 s of GX's lazy imports and caches beyond its import. A sidecar
    runs this before its first call arrives (and `relief sidecar-server` once, for every sidecar it forks), so no
    day pays it. Best effort: a failure here only means the first day pays it after all.
    """
    import tempfile

    started = time.perf_counter()
    dummy = {"run_dates": [], "service_codes": [], "payment_id_regex": ".*", "basis_codes": [],
             "payment_columns": list(contract.PAYMENT_COLUMNS), "max_payment_krw": 0, "max_tier_krw": 0}  # fmt: skip
    try:
        [staged] = [e["kwargs"]["column_set"] for e in load_suite_doc("claims_staged")["expectations"]
                    if e["type"] == "expect_table_columns_to_match_set"]  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="relief-warm-up-") as folder:
            for name, columns in (("claims_staged", staged), ("payments_batch", contract.PAYMENT_COLUMNS)):
                outcome, result = _validate(name, [], columns, dummy)
                _write_data_docs(Path(folder), dt.date(2000, 1, 1), outcome, result)
    except Exception as exc:
        log.debug("Great Expectations warm-up failed (%s: %s); the first validation pays it", type(exc).__name__, exc)
        return
    log.debug("Great Expectations warmed up in %.2f s", time.perf_counter() - started)


def validate_claims_at(db_url: str, program: Program, day: dt.date) -> dict:
    """validate_day_claims given the warehouse's URL: what a sidecar process is sent (it opens its own)."""
    return validate_day_claims(Warehouse(db_url), program, day)


def validate_payments_at(db_url: str, program: Program, day: dt.date) -> dict:
    """validate_day_payments given the warehouse's URL: what a sidecar process is sent (it opens its own)."""
    return validate_day_payments(Warehouse(db_url), program, day)
