"""run_rollout and `relief rollout`: reruns, a crash mid-run, the command line, start-up imports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import etl.rollout as rollout
from etl.io.outbox import sha256_file
from etl.rollout import run as rollout_run
from tests.etl.rollout.helpers import DAY, grants_dir, manifest, read_grants, shard_bytes, write_users


def test_rerun_reproduces_identical_shards(settings, generated):
    prog, _ = generated
    first = rollout.run_rollout(settings, prog, DAY, shard_size=3_000)
    before = shard_bytes(settings)
    second = rollout.run_rollout(settings, prog, DAY, shard_size=3_000)
    assert shard_bytes(settings) == before and len(before) == 7
    assert first["run_id"] != second["run_id"]
    assert [s["sha256"] for s in manifest(settings)["shards"]] == [
        sha256_file(grants_dir(settings) / n) for n in before
    ]


def test_after_a_crash_a_rerun_finishes_the_missing_shards(settings, generated, monkeypatch):
    prog, _ = generated
    rollout.run_rollout(settings, prog, DAY, shard_size=3_000)
    clean = shard_bytes(settings)
    shutil.rmtree(settings.outbox)

    real_build = rollout.build_shard
    calls = []

    def crashing(settings_, program_, day, shard, *args, **kwargs):
        if shard == 3:
            raise KeyboardInterrupt("killed mid-run")
        calls.append(shard)
        return real_build(settings_, program_, day, shard, *args, **kwargs)

    monkeypatch.setattr(rollout_run, "build_shard", crashing)
    with pytest.raises(KeyboardInterrupt):
        rollout.run_rollout(settings, prog, DAY, shard_size=3_000)
    assert 3 not in calls and {0, 1, 2} <= set(calls)
    assert not (grants_dir(settings) / "part-00003.csv").exists()
    assert not (grants_dir(settings) / "manifest.json").exists()
    assert not list(grants_dir(settings).glob(".*tmp"))  # no half-written file left behind
    mtimes = {p.name: p.stat().st_mtime_ns for p in grants_dir(settings).glob("part-*.csv")}

    monkeypatch.setattr(rollout_run, "build_shard", real_build)
    rollout.run_rollout(settings, prog, DAY, shard_size=3_000)  # reuses the plan, builds the missing ones
    assert shard_bytes(settings) == clean
    assert {n: (grants_dir(settings) / n).stat().st_mtime_ns for n in mtimes} == mtimes  # the built ones kept


def test_cli_rollout(settings, program, capsys):
    from etl.cli import main

    write_users(settings, ["u1,active,2015-01-01,", "u2,withdrawn,2015-01-01,"])
    code = main(
        [
            "rollout",
            DAY,
            "--shard-size",
            "1",
            "--inbox",
            str(settings.inbox),
            "--outbox",
            str(settings.outbox),
            "--db",
            settings.db_url,
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["counts"]["eligible"] == 1 and out["shards"] == 2
    assert read_grants(settings) == [("u1", "relief_base")]


def test_rollout_process_imports_neither_pandas_nor_sqlalchemy(settings, program):
    """`relief rollout` starts in a fraction of a second: no pandas (pyarrow's bridge), no SQLAlchemy
    (the budget reads a SQLite warehouse with sqlite3)."""
    import subprocess
    import sys

    write_users(settings, ["u1,active,2015-01-01,2022-12-30T10:00:00+09:00", "u2,active,2015-01-01,"])
    code = (
        "import sys; from etl.cli import main; rc = main(sys.argv[1:]);"
        " heavy = [m for m in ('pandas', 'sqlalchemy', 'great_expectations') if m in sys.modules];"
        " print('HEAVY', heavy, file=sys.stderr); sys.exit(rc or (3 if heavy else 0))"
    )
    repo = Path(__file__).resolve().parents[3]  # tests/etl/rollout/ -> the repository
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "rollout",
            DAY,
            "--inbox",
            str(settings.inbox),
            "--outbox",
            str(settings.outbox),
            "--db",
            settings.db_url,
        ],
        capture_output=True,
        text=True,
        cwd=repo,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "HEAVY []" in proc.stderr
    assert sorted(read_grants(settings)) == [("u1", "relief_base_td"), ("u2", "relief_base")]
