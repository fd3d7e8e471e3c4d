"""grants_rollout: the DAG's shape, and an end-to-end run through Airflow itself on a small directory."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_FILE = REPO / "dags" / "grants_rollout.py"
PY = sys.executable


def _env(tmp_path: Path, **extra) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(tmp_path / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Seoul",
            "RELIEF_INBOX": str(tmp_path / "inbox"),
            "RELIEF_OUTBOX": str(tmp_path / "outbox"),
            "RELIEF_DB_URL": f"sqlite:///{tmp_path / 'warehouse.sqlite'}",
            "NO_PROXY": "*",
            "PYTHONPATH": str(REPO),
        }
    )
    env.update(extra)
    return env


def test_dag_shape_and_conventions(tmp_path):
    """Parsed in a clean interpreter: one DAG, its schedule, args, and no heavy imports at parse time."""
    script = textwrap.dedent(f"""
        import json, runpy, sys
        ns = runpy.run_path({str(DAG_FILE)!r})
        from airflow.sdk.definitions.dag import DAG
        dags = [v for v in ns.values() if isinstance(v, DAG)]
        d = dags[0]
        heavy = [m for m in ("pandas", "pyarrow", "duckdb", "great_expectations", "numpy")
                 if m in sys.modules] + [m for m in sys.modules if m.startswith("etl")
                 and m not in ("etl", "etl.core", "etl.core.errors",  # the no-retry rule's exception class
                               "etl.airflow_shared")]  # what the DAG files share: Airflow and the stdlib only
        ev = list(d.timetable.event_dates)
        print(json.dumps({{
            "n": len(dags), "dag_id": d.dag_id, "tasks": sorted(d.task_ids), "heavy": heavy,
            "events": [e.isoformat() for e in ev], "tz": [str(e.timezone_name) for e in ev],
            "owner": d.default_args["owner"], "retries": d.default_args["retries"], "tags": sorted(d.tags),
            "doc": bool(d.doc_md), "timetable": type(d.timetable).__name__,
            "mapped": type(d.get_task("build_shard")).__name__,
        }}))
    """)
    out = subprocess.run([PY, "-c", script], env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert (info["n"], info["dag_id"]) == (1, "grants_rollout") and DAG_FILE.stem == "grants_rollout"
    assert info["tasks"] == ["build_shard", "finish", "plan"]
    assert info["mapped"].endswith("MappedOperator")  # one task instance per shard
    assert info["timetable"] == "EventsTimetable"
    assert info["events"] == ["2023-01-05T00:00:00+09:00"] and info["tz"] == ["Asia/Seoul"]
    assert info["owner"] == "relief" and info["retries"] >= 1 and "relief" in info["tags"] and info["doc"]
    assert info["heavy"] == []


@pytest.mark.airflow
def test_end_to_end_through_airflow(tmp_path, program):
    from etl.synth.users import generate_users

    info = generate_users(tmp_path / "inbox", program, n_users=6_000, seed=4, malformed=3, duplicates=2)
    env = _env(tmp_path, RELIEF_SHARD_SIZE="1500")
    migrate = subprocess.run(
        [str(Path(PY).parent / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    script = textwrap.dedent(f"""
        import runpy, pendulum
        from airflow.sdk.definitions.dag import DAG
        ns = runpy.run_path({str(DAG_FILE)!r})
        dag = next(v for v in ns.values() if isinstance(v, DAG))
        run = dag.test(logical_date=pendulum.datetime(2023, 1, 5, tz="Asia/Seoul"))
        print("DAGRUN", run.state, run.run_id)
    """)
    out = subprocess.run([PY, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-5000:]
    assert "DAGRUN success" in log, log[-5000:]
    run_id = log.split("DAGRUN success ", 1)[1].split()[0]
    folder = tmp_path / "outbox" / "grants" / "2023-01-05"
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["run_id"] == run_id and manifest["config_sha256"] == program.sha256
    n = len(manifest["shards"])  # ~6,000 rows / 1,500 a shard (the count is estimated from the file size)
    assert n in (4, 5)
    assert [s["file"] for s in manifest["shards"]] == [f"part-{k:05d}.csv" for k in range(n)]
    for k in range(n):  # each shard ran as its own mapped task instance
        assert f"task_id=build_shard map_index={k}" in log
    users = []
    for shard in manifest["shards"]:
        with open(folder / shard["file"], newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))[1:]
        assert len(rows) == shard["rows"]
        users += [r[0] for r in rows]
    assert len(users) == len(set(users)) == manifest["counts"]["eligible"]
    counts = manifest["counts"]
    assert counts["quarantined"] == 3 and counts["duplicate_rows"] == 2
    assert counts["rows_received"] == info["rows"]
    # cap 3M: every eligible opt-in gets the pass (two users' last rows say withdrawn)
    assert counts["relief_base_td"] == counts["eligible_optins"]
    assert info["eligible_optins"] - 2 <= counts["eligible_optins"] <= info["eligible_optins"]
    assert counts["eligible"] + counts["ineligible_withdrawn"] + counts["ineligible_joined_after"] == 6_000
    budget = json.loads((tmp_path / "outbox" / "reports" / "budget" / "2023-01-05" / "budget.json").read_text())
    assert budget["general_users_total"]["estimate_krw"] == 542_970_000_000
    assert (tmp_path / "outbox" / "reports" / "budget" / "2023-01-05" / "manifest.json").exists()


def _plan_callable(dag_bag_of):
    dag = dag_bag_of(DAG_FILE).dags["grants_rollout"]
    return dag, dag.get_task("plan").python_callable


@pytest.mark.parametrize("asked", ["2023-01-06", "", "2024-01-05"])
def test_a_manual_run_for_another_date_is_refused_without_retry(dag_bag_of, asked, tmp_path, monkeypatch):
    """Trigger asks for rollout_date; anything but the program's rollout date fails at once, nothing written."""
    import types

    from airflow.sdk import RetryAction

    from etl.core.errors import ReliefError

    monkeypatch.setenv("RELIEF_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.setenv("RELIEF_INBOX", str(tmp_path / "inbox"))
    dag, plan = _plan_callable(dag_bag_of)
    assert dag.params["rollout_date"] == "2023-01-05"  # the trigger form's default
    context = {
        "dag_run": types.SimpleNamespace(run_type="manual", run_after=None),
        "params": {"rollout_date": asked},
        "logical_date": None,
        "run_id": "manual__2026-11-29T10:00:00+00:00",
    }
    with pytest.raises(ReliefError, match=r"rollout_date is .* but the program's rollout date is 2023-01-05") as err:
        plan(**context)
    assert not (tmp_path / "outbox").exists(), "a refused run wrote to the outbox"
    # ReliefError fails the task at once: the shared retry policy says FAIL, whatever the retries left.
    decision = dag.get_task("plan").retry_policy.evaluate(err.value, try_number=1, max_tries=3)
    assert decision.action == RetryAction.FAIL


def test_a_manual_run_takes_the_rollout_date_from_its_param(dag_bag_of):
    import types

    import pendulum

    dag, plan = _plan_callable(dag_bag_of)
    day_of = plan.__wrapped__.__globals__["_day"]  # plan is wrapped by etl.airflow_shared.logged
    manual = {"dag_run": types.SimpleNamespace(run_type="manual"), "params": {"rollout_date": "2023-01-05"}}
    # The trigger form fills in "now" as the logical date: a manual run reads its param, not that.
    assert day_of({**manual, "logical_date": pendulum.datetime(2026, 11, 29, tz="Asia/Seoul")}) == "2023-01-05"
    scheduled = {"dag_run": types.SimpleNamespace(run_type="scheduled"), "params": {"rollout_date": "1999-01-01"}}
    assert day_of({**scheduled, "logical_date": pendulum.datetime(2023, 1, 5, tz="Asia/Seoul")}) == "2023-01-05"
    # Unpausing runs the single past event once (catchup), labelled by shard in the UI.
    assert dag.catchup is True and "Unpausing runs it" in dag.doc_md
    assert dag.get_task("build_shard").map_index_template == "{{ shard_label }}"
