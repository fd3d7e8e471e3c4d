"""Step 3 of the rollout, `finish_rollout`: check every shard, publish the manifest last, then the budget.

The grants folder is published only when every shard is there and intact (size and SHA-256 against
its done-marker) and the shards hold exactly the plan's eligible users. manifest.json, written last,
names the bundles and their items (kind, face value, validity), the counts per bundle and per item,
the pass cutoff, the rows and SHA-256 of every shard and of rejected_users.csv, the config's hash and
the run. The budget report follows; the staging folder is removed at the very end.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from typing import Any

from etl.core.config import Program
from etl.core.errors import ReliefError
from etl.core.settings import Settings
from etl.io.outbox import FILE_MODE, WrittenFile, finish_folder, sha256_file
from etl.rollout.budget import write_budget
from etl.rollout.common import BASE, TD, as_date
from etl.rollout.items import item_counts, item_doc
from etl.rollout.results import FinishResult, Plan, RolloutCounts, ShardEntry, ShardMarker
from etl.rollout.shards import marker_ok
from etl.rollout.staging import REJECTED, Paths, load_plan

log = logging.getLogger(__name__)


def finish_rollout(
    settings: Settings,
    program: Program,
    day: dt.date | str | None = None,
    run_id: str | None = None,
    checked: dict[int, ShardMarker] | None = None,
) -> FinishResult:
    """Check every shard, write the manifest last, then the budget report; remove the staging.

    `checked` (run_rollout): markers of shards this process has just built or verified by their
    SHA-256; those are not hashed a second time. The DAG's finish task checks every shard in full.
    """
    day = as_date(day, program)
    paths = Paths.of(settings, day)
    plan = load_plan(settings, day)
    files, shards, bundle_counts = _check_shards(paths, plan, checked or {})
    if sum(bundle_counts.values()) != plan["counts"]["eligible"]:
        raise ReliefError(
            f"the shards hold {sum(bundle_counts.values())} users, the plan {plan['counts']['eligible']} eligible"
        )
    counts: RolloutCounts = {**plan["counts"], BASE: bundle_counts[BASE], TD: bundle_counts[TD]}
    files.append(_publish_rejected(paths, counts["quarantined"]))
    items = item_counts(program, bundle_counts)
    run_id = run_id or plan["run_id"]
    header = _manifest_header(program, plan, run_id, counts, shards, bundle_counts, items)
    manifest = finish_folder(paths.grants, files, header)
    budget = write_budget(settings, program, day, items, run_id)
    shutil.rmtree(paths.work, ignore_errors=True)
    log.info(
        "rollout %s published: %d users, %d %s, %d %s, %d shards",
        day,
        counts["eligible"],
        counts[BASE],
        BASE,
        counts[TD],
        TD,
        len(shards),
    )
    return {
        "day": day.isoformat(),
        "run_id": run_id,
        "folder": str(paths.grants),
        "shards": len(shards),
        "counts": counts,
        "items": items,
        "budget": budget,
        "files": len(manifest["files"]),
    }


def _check_shards(
    paths: Paths, plan: Plan, checked: dict[int, ShardMarker]
) -> tuple[list[WrittenFile], list[ShardEntry], dict[str, int]]:
    """Every shard's file, manifest entry and users per bundle; an error naming the missing or damaged ones."""
    files: list[WrittenFile] = []
    shards: list[ShardEntry] = []
    bundle_counts = {BASE: 0, TD: 0}
    missing = []
    for k in plan["shards"]:
        marker = marker_ok(paths, k, checked.get(k))
        if marker is None:
            missing.append(k)
            continue
        files.append(WrittenFile(marker["file"], marker["rows"], marker["sha256"], marker["bytes"]))
        shards.append(
            {
                "file": marker["file"],
                "rows": marker["rows"],
                "sha256": marker["sha256"],
                BASE: marker[BASE],
                TD: marker[TD],
            }
        )
        bundle_counts[BASE] += marker[BASE]
        bundle_counts[TD] += marker[TD]
    if missing:
        raise ReliefError(f"shards {missing[:10]} are missing or damaged: rebuild them (build_shard) and finish again")
    return files, shards, bundle_counts


def _publish_rejected(paths: Paths, quarantined: int) -> WrittenFile:
    """Move rejected_users.csv from the staging into the grants folder (if not already there)."""
    rejected = paths.work / REJECTED
    if rejected.exists():
        os.chmod(rejected, FILE_MODE)
        os.replace(rejected, paths.grants / REJECTED)
    final_rejected = paths.grants / REJECTED
    return WrittenFile(REJECTED, quarantined, sha256_file(final_rejected), final_rejected.stat().st_size)


def _manifest_header(
    program: Program,
    plan: Plan,
    run_id: str,
    counts: RolloutCounts,
    shards: list[ShardEntry],
    bundle_counts: dict[str, int],
    items: dict[str, int],
) -> dict[str, Any]:
    """Everything manifest.json says besides its list of files."""
    return {
        "kind": "grants",
        "program": program.code,
        "config_sha256": program.sha256,
        "run_id": run_id,
        "rollout_date": plan["day"],
        "source": plan["source"],
        "rules": {
            "eligible_joined_on_or_before": program.eligible_joined_on_or_before.isoformat(),
            "excluded_status": ["withdrawn"],
            "talk_drawer_cap": program.talk_drawer_cap,
            "pass_order": "talk_drawer_optin_at, then user_id (text, byte order)",
            "pass_competition": "eligible users only",
            "duplicates": "a user_id listed more than once: its last valid row in the directory wins",
        },
        "pass_cutoff": plan["cutoff"],
        "bundles": {
            b.code: {"users": bundle_counts.get(b.code, 0), "items": [item_doc(program, c) for c in b.items]}
            for b in program.bundles
        },
        "items": {code: {"count": n, **item_doc(program, code)} for code, n in items.items()},
        "counts": counts,
        "shards": shards,
        "quarantine": {"file": REJECTED, "rows": counts["quarantined"], "by_reason": counts["quarantined_by_reason"]},
    }
