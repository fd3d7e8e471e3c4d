"""Fixtures of the rollout tests: a throw-away inbox, outbox and warehouse; a generated directory."""

from __future__ import annotations

import pytest

from etl.core.settings import Settings
from etl.synth.users import generate_users
from tests.etl.rollout.helpers import program_with_cap


@pytest.fixture
def settings(tmp_path) -> Settings:
    s = Settings(inbox=tmp_path / "inbox", outbox=tmp_path / "outbox", db_url=f"sqlite:///{tmp_path / 'wh.sqlite'}")
    s.inbox.mkdir()
    return s


@pytest.fixture
def generated(tmp_path, settings, program):
    """20,000 users with bad rows and duplicates, a cap lowered in proportion (20k/48M x 3M = 1,250)."""
    prog = program_with_cap(tmp_path, program, 1_250)
    info = generate_users(settings.inbox, prog, n_users=20_000, seed=7, malformed=12, duplicates=5)
    return prog, info
