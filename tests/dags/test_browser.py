"""claims_daily operated in the Airflow UI by a headless Chromium: scripts/airflow_browser_test.py.

`airflow standalone` on a free port over a three-day inbox, the shipped program (a person approves; approvers
["admin"]) on a three-day window: log in, unpause, approve day 1 in Required actions, reject day 2 with a
reason and see it failed, clear days 2 and 3 (recompute), approve day 2, see day 3 publish, open the Data Docs
and finance report links, check the alerts. Screenshots: var/browser/. Every step is done in the UI; the REST
API only waits for states. Needs Debian's chromium (`.ci/run` installs it); elsewhere the test is skipped.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.dags.conftest import REPO

pytestmark = [pytest.mark.airflow, pytest.mark.browser]
SCRIPT = REPO / "scripts" / "airflow_browser_test.py"
SHOTS = REPO / "var" / "browser"


def load_script():
    spec = importlib.util.spec_from_file_location("airflow_browser_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_operate_claims_daily_in_the_airflow_ui(tmp_path, airflow_db):
    script = load_script()
    if not Path(script.CHROMIUM).exists() or importlib.util.find_spec("playwright") is None:
        if os.environ.get("CI"):
            pytest.fail(f"{script.CHROMIUM} or playwright missing in CI: .ci/run installs chromium, make the venv")
        pytest.skip(f"needs {script.CHROMIUM} (apt-get install -y chromium) and playwright (the dev extra)")
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    started = time.monotonic()
    facts = script.run(tmp_path, SHOTS, template_db=airflow_db)
    seconds = time.monotonic() - started

    names = [p.name for p in facts["screenshots"]]
    for step in ("approval-form-2022-10-15", "rejected-2022-10-16", "runs-all-published", "data-docs-2022-10-17"):
        assert any(step in n for n in names), f"no screenshot of {step}: {names}"
    assert all(p.is_file() and p.stat().st_size > 0 for p in facts["screenshots"])
    subjects = [a.get("subject", "") for a in facts["alerts"]]
    assert any("2022-10-16: close_day failed" in s for s in subjects), subjects
    assert any(a.get("kind") == "deadline_missed" for a in facts["alerts"]), subjects
    # The scheduler preloaded Great Expectations before forking the LocalExecutor's workers: no validation task
    # imported it (etl/quality/local_executor.py). Every day validates twice; day 2 ran twice (rejected, cleared).
    said = facts["validations"]
    assert len(said) >= 6 and set(said.values()) == {"preloaded by the worker"}, said
    assert facts["crashes"] == [], "an Airflow component's loop died: " + "\n".join(facts["crashes"])
    assert seconds < 420, f"the browser test took {seconds:.0f} s (budget: under 5 minutes)"
