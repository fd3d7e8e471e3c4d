"""Policy every DAG file in dags/ must follow (in the style of Mozilla's telemetry-airflow tests).

Parametrized over the files found, so a new DAG file is checked the moment it appears:
it parses in Airflow's DagBag, defines exactly one DAG named after the file, is documented,
owned and tagged, retries its tasks, and is cheap to parse (no heavy imports, no I/O, no
Variable.get at module level: the DAG processor re-parses every file every few seconds).
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import pytest

from tests.dags.conftest import DAGS, REPO, airflow_env, dag_files, run_process

DAG_FILES = dag_files()
HEAVY_MODULES = ("great_expectations", "pandas", "sqlalchemy", "pyarrow", "duckdb")
MAX_IMPORT_SECONDS = 1.0
# Calls that read or write files, the network or Airflow's metadata database when made at parse time.
IO_NAMES = {"open", "urlopen", "listdir", "scandir"}
IO_ATTRIBUTES = {
    "read_text",
    "read_bytes",
    "write_text",
    "write_bytes",
    "iterdir",
    "glob",
    "rglob",
    "listdir",
    "scandir",
    "urlopen",
    "get_connection",
}
IO_DOTTED = {"Variable.get", "Variable.set", "Connection.get", "io.open", "os.open", "glob.glob", "glob.iglob"}

each_dag_file = pytest.mark.parametrize("path", DAG_FILES, ids=[p.name for p in DAG_FILES])


def the_dag(dag_bag_of, path: Path):
    bag = dag_bag_of(path)
    assert not bag.import_errors, f"{path.name} does not import: {bag.import_errors}"
    assert len(bag.dags) == 1, f"{path.name} must define exactly one DAG, found {sorted(bag.dags)}"
    return next(iter(bag.dags.values()))


@each_dag_file
def test_imports_cleanly_and_defines_one_dag_named_after_the_file(dag_bag_of, path):
    dag = the_dag(dag_bag_of, path)
    assert dag.dag_id == path.stem, f"{path.name} defines dag_id {dag.dag_id!r}: it must be {path.stem!r}"
    assert Path(dag.fileloc).resolve() == path.resolve()


@each_dag_file
def test_documented_owned_and_tagged(dag_bag_of, path):
    dag = the_dag(dag_bag_of, path)
    doc = dag.doc_md
    assert isinstance(doc, str) and doc.strip(), f"{dag.dag_id}: doc_md is empty"
    assert re.search(r"^\s*#{1,6} \S", doc, re.MULTILINE), f"{dag.dag_id}: doc_md has no Markdown heading"
    owner = (dag.default_args or {}).get("owner")
    assert owner and owner.strip() and owner != "airflow", f"{dag.dag_id}: default_args owner is {owner!r}"
    not_owned = [t.task_id for t in dag.tasks if not t.owner or t.owner == "airflow"]
    assert not not_owned, f"{dag.dag_id}: tasks owned by the default 'airflow': {not_owned}"
    assert dag.tags, f"{dag.dag_id}: no tags"


@each_dag_file
def test_every_task_retries(dag_bag_of, path):
    dag = the_dag(dag_bag_of, path)
    assert dag.tasks, f"{dag.dag_id} has no tasks"
    no_retry = {t.task_id: t.retries for t in dag.tasks if not (t.retries or 0) >= 1}
    assert not no_retry, f"{dag.dag_id}: tasks without retries (retries >= 1 required): {no_retry}"


_IMPORT_PROBE = """
import importlib.util, json, sys, time
import airflow.sdk  # the baseline: what any DAG file pays anyway
baseline = set(sys.modules)
path = sys.argv[1]
# Nothing put on sys.path: a DAG file imports only installed packages (a probe with the repository root alone
# once failed on a module beside the DAG files, now etl/airflow_shared.py).
spec = importlib.util.spec_from_file_location("dag_file_under_test", path)
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
started = time.perf_counter()
spec.loader.exec_module(module)
seconds = time.perf_counter() - started
heavy = sys.argv[2].split(",")
print("IMPORT_PROBE " + json.dumps({
    "seconds": seconds,
    "new_heavy": sorted({m.split(".")[0] for m in set(sys.modules) - baseline if m.split(".")[0] in heavy}),
    "baseline_heavy": sorted({m.split(".")[0] for m in baseline if m.split(".")[0] in heavy}),
}))
"""


@each_dag_file
def test_no_heavy_imports_and_fast_to_parse(path, tmp_path):
    code, out, err, _ = run_process(
        [sys.executable, "-c", _IMPORT_PROBE, str(path), ",".join(HEAVY_MODULES)],
        airflow_env(tmp_path),
        timeout=120,
        cwd=REPO,
    )
    assert code == 0, f"importing {path.name} failed:\n{(out + err)[-3000:]}"
    line = next(ln for ln in out.splitlines() if ln.startswith("IMPORT_PROBE "))
    probe = json.loads(line.removeprefix("IMPORT_PROBE "))
    # `import airflow.sdk` itself loads sqlalchemy (Airflow's ORM): the file must add none of these.
    assert not probe["new_heavy"], (
        f"{path.name} imports heavy modules at module level: {probe['new_heavy']} (import them inside the tasks)"
    )
    assert probe["seconds"] < MAX_IMPORT_SECONDS, f"importing {path.name} takes {probe['seconds']:.2f}s"


def _is_dag_decorator(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    return (isinstance(target, ast.Name) and target.id == "dag") or (
        isinstance(target, ast.Attribute) and target.attr == "dag"
    )


def _parse_time_nodes(tree: ast.Module):
    """The nodes evaluated when the file is imported: module level, class bodies, decorators and defaults,
    and the bodies of `@dag` functions (they run at parse time) but not the bodies of tasks or helpers."""
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            if not isinstance(node, ast.Lambda):
                stack.extend(node.decorator_list)
                if any(_is_dag_decorator(d) for d in node.decorator_list):
                    stack.extend(node.body)
            stack.extend(node.args.defaults)
            stack.extend(d for d in node.args.kw_defaults if d is not None)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _dotted(node: ast.expr) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


@each_dag_file
def test_no_io_or_variables_at_module_level(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    offending = []
    for node in _parse_time_nodes(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = _dotted(func)
        if (
            (isinstance(func, ast.Name) and func.id in IO_NAMES)
            or (isinstance(func, ast.Attribute) and func.attr in IO_ATTRIBUTES)
            or any(name == d or name.endswith("." + d) for d in IO_DOTTED)
        ):
            offending.append(f"line {node.lineno}: {name or ast.unparse(func)}(...)")
    offending.sort(key=lambda s: int(s.split(":")[0].split()[1]))
    assert not offending, (
        f"{path.name} does I/O or reads Variables when parsed (move it into a task, or use a template):\n"
        + "\n".join(offending)
    )


# ---------------------------------------------------------------------------------------------
# the dags folder and claims_daily's schedule


def test_dags_folder_holds_the_product_dags():
    names = {p.name for p in DAG_FILES}
    assert "claims_daily.py" in names, f"dags/ holds {sorted(names)}"


def test_claims_daily_schedule_covers_the_program_from_the_window_to_the_close(dag_bag_of, program):
    import pendulum
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    from etl.runtime import run_day_of

    dag = the_dag(dag_bag_of, DAGS / "claims_daily.py")
    assert dag.catchup is True, "claims_daily must catch up: every intake day is processed, late or not"
    assert dag.max_active_runs == 1, "claims_daily runs one day at a time, in order"
    # Day order is the ledger's rule (check_day fails fast), not depends_on_past, which left a later run
    # waiting in the only slot after a failed day.
    assert not (dag.default_args or {}).get("depends_on_past")
    assert dag.get_task("check_day").upstream_task_ids == set()
    assert dag.timezone.name == "Asia/Seoul"
    first, close = program.intake_first_day, program.close_date
    start = pendulum.datetime(first.year, first.month, first.day, tz="Asia/Seoul")
    end = pendulum.datetime(close.year, close.month, close.day, tz="Asia/Seoul")
    assert dag.start_date == start, f"start_date {dag.start_date} is not {first} 00:00 KST"
    assert dag.end_date == end, f"end_date {dag.end_date} is not the program's close, {close} 00:00 KST"

    # Walk the timetable as the scheduler does (catchup from start_date to end_date).
    timetable = coerce_to_core_timetable(dag.timetable)
    restriction = TimeRestriction(earliest=dag.start_date, latest=dag.end_date, catchup=True)
    runs, info = [], None
    while True:
        info = timetable.next_dagrun_info(
            last_automated_data_interval=info.data_interval if info else None, restriction=restriction
        )
        if info is None:
            break
        runs.append(info)
        assert len(runs) <= 400, "the timetable does not stop at end_date"
    assert len(runs) == (close - first).days + 1, f"{len(runs)} runs, expected one a day to the close"

    # Each scheduled run's logical date (its interval's start) is the program day it processes.
    days = [run_day_of(r.data_interval.start, r.run_after, program.timezone) for r in runs]
    assert days[:19] == program.intake_days(), "the DAG's runs and the program's intake window disagree"
    assert days[-1] == close
    assert all(r.data_interval.start.in_timezone("Asia/Seoul").hour == 0 for r in runs)


def test_claims_daily_sensor_does_not_hold_a_worker(dag_bag_of):
    dag = the_dag(dag_bag_of, DAGS / "claims_daily.py")
    sensor = dag.get_task("wait_for_claims_file")
    assert sensor.mode == "reschedule", "a sensor waiting hours for a file must free its worker slot between pokes"
    assert 0 < sensor.timeout <= 24 * 3600, "the sensor must give up (and name the file) at some point"
    assert dag.get_task("stage_claims").upstream_task_ids == {"wait_for_claims_file", "check_day"}


# ---------------------------------------------------------------------------------------------
# operating it in the UI: every task documented, lineage, the rollout's shard labels


@each_dag_file
def test_every_task_is_documented(dag_bag_of, path):
    dag = the_dag(dag_bag_of, path)
    undocumented = [t.task_id for t in dag.tasks if not (t.doc_md or "").strip()]
    assert not undocumented, f"{dag.dag_id}: tasks without doc_md (a docstring or doc_md=): {undocumented}"


def test_lineage_claims_to_payments_to_the_rollout_budget(dag_bag_of):
    """The Assets page shows staged claims -> payment batch -> published day -> the rollout's budget."""
    claims = the_dag(dag_bag_of, DAGS / "claims_daily.py")
    rollout = the_dag(dag_bag_of, DAGS / "grants_rollout.py")

    def names(assets) -> set[str]:
        return {a.name for a in assets}

    assert names(claims.get_task("stage_claims").outlets) == {"relief_staged_claims"}
    assert names(claims.get_task("compute_payments").inlets) == {"relief_staged_claims"}
    assert names(claims.get_task("compute_payments").outlets) == {"relief_payment_batch"}
    assert names(claims.get_task("publish_outbox").inlets) == {"relief_payment_batch"}
    assert names(claims.get_task("publish_outbox").outlets) == {"relief_published_day"}
    assert names(rollout.get_task("finish").inlets) == {"relief_published_day"}
    assert names(rollout.get_task("finish").outlets) == {"relief_grants", "relief_budget"}
    assert rollout.get_task("build_shard").map_index_template, "shards must be labelled part-NNNNN in the UI"


def test_the_validations_and_the_approval_link_to_the_days_pages(dag_bag_of):
    dag = the_dag(dag_bag_of, DAGS / "claims_daily.py")
    links = {t.task_id: {link.name for link in t.operator_extra_links} for t in dag.tasks}
    assert "Data Docs" in links["validate_claims"] and "Data Docs" in links["validate_payments"]
    assert {"Payees (masked)", "Data Docs"} <= links["approve_payment_batch"]
    assert "Finance report" in links["publish_outbox"]
    approval = dag.get_task("approve_payment_batch")
    assert approval.subject.startswith("{{ ti.xcom_pull(task_ids='prepare_approval')['run_date'] }}:"), (
        "the approval's subject must start with the intake day (Required actions cuts long subjects)"
    )
    assert dag.get_task("route_batch").downstream_task_ids == {"auto_approve_batch", "prepare_approval"}
