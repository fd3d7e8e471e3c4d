"""Helpers shared by the rollout tests: writing a directory, reading the grants, a plain-Python reference."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from pathlib import Path

from etl.core.config import DEFAULT_PROGRAM_FILE, load_program
from etl.core.settings import Settings

DAY = "2023-01-05"
HEADER = "user_id,status,joined_at,talk_drawer_optin_at\n"


def program_with_cap(tmp_path: Path, program, cap: int):
    """A copy of the 1015 program (and its services file) with the Talk Drawer cap lowered."""
    text = DEFAULT_PROGRAM_FILE.read_text(encoding="utf-8")  # the rules; the tests' demo overlay only sets [approval]
    assert "talk_drawer_cap = 3000000" in text
    folder = tmp_path / "program"
    folder.mkdir()
    (folder / "kakao_1015.toml").write_text(
        text.replace("talk_drawer_cap = 3000000", f"talk_drawer_cap = {cap}"), encoding="utf-8"
    )
    shutil.copy(program.services_path, folder / program.services_path.name)
    return load_program(folder / "kakao_1015.toml")


def write_users(settings: Settings, lines: list[str]) -> Path:
    path = settings.inbox / "users.csv"
    path.write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def grants_dir(settings: Settings) -> Path:
    return settings.outbox / "grants" / DAY


def read_grants(settings: Settings) -> list[tuple[str, str]]:
    rows = []
    for part in sorted(grants_dir(settings).glob("part-*.csv")):
        with open(part, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            assert next(reader) == ["user_id", "bundle_code"]
            rows.extend((r[0], r[1]) for r in reader)
    return rows


def manifest(settings: Settings) -> dict:
    return json.loads((grants_dir(settings) / "manifest.json").read_text(encoding="utf-8"))


def shard_bytes(settings: Settings) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(grants_dir(settings).glob("part-*.csv"))}


def reference_rollout(path: Path, program) -> dict[str, str]:
    """An independent, plain-Python statement of the rules over a small directory file."""
    last: dict[str, dict] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            try:
                assert row["user_id"] and row["status"] in ("active", "dormant", "withdrawn")
                joined = dt.date.fromisoformat(row["joined_at"])
                assert len(row["joined_at"]) == 10
                optin = dt.datetime.fromisoformat(row["talk_drawer_optin_at"]) if row["talk_drawer_optin_at"] else None
                assert optin is None or optin.tzinfo is not None
            except (AssertionError, ValueError, TypeError, KeyError):
                continue
            last[row["user_id"]] = {"status": row["status"], "joined": joined, "optin": optin}
    eligible = {
        u: r
        for u, r in last.items()
        if r["status"] != "withdrawn" and r["joined"] <= program.eligible_joined_on_or_before
    }
    queue = sorted((r["optin"], u) for u, r in eligible.items() if r["optin"] is not None)
    passes = {u for _, u in queue[: program.talk_drawer_cap]}
    return {u: ("relief_base_td" if u in passes else "relief_base") for u in eligible}
