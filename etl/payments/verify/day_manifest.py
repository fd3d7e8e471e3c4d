"""The day manifest: publishing writes `OUTBOX/days/DAY/manifest.json` last, naming every folder's manifest of
the day by its SHA-256. Until it is there the day is not published, and a payments folder whose manifest is
not the one it names is not what was published.

A payments manifest can be rewritten and sealed again by whoever holds the seal key; the day manifest must
then be rewritten too. It fails closed: a payments folder (one in a folder named `payments`) without its day
manifest fails.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from etl.core import contract
from etl.io.outbox import MANIFEST
from etl.payments import seal
from etl.payments.verify.report import VerifyReport


def day_manifest_path(folder: Path) -> Path | None:
    """OUTBOX/days/DAY/manifest.json for the folder OUTBOX/payments/DAY; None for a folder not under `payments`.

    The path is made absolute and normalised as written (not through symlinks), so `relief verify .` from inside
    the day folder, or `relief verify ../2022-10-16`, finds the same day manifest.
    """
    folder = Path(os.path.abspath(folder))
    if folder.parent.name != contract.PAYMENTS:
        return None
    return folder.parent.parent / contract.DAYS / folder.name / MANIFEST


def day_manifest_label(path: Path) -> str:
    """How messages name a day manifest: days/DAY/manifest.json."""
    return f"{contract.DAYS}/{path.parent.name}/{MANIFEST}"


def _check_day_manifest(report: VerifyReport, folder: Path, manifest_bytes: bytes, key: bytes | None) -> None:
    """The day manifest is there, its seal valid (when a key is set: without one, the folder's own seal check
    has already failed), and it names the folder's manifest.json with these bytes' SHA-256."""
    path = day_manifest_path(folder)
    if path is None:
        return
    day = path.parent.name
    label = day_manifest_label(path)
    if not path.is_file():
        report.problems.append(f"{label} is missing: publishing did not finish; do not upload")
        return
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        report.problems.append(f"{label}: cannot be read as JSON ({type(exc).__name__}); do not upload")
        return
    if not isinstance(doc, dict):
        report.problems.append(f"{label}: is not a JSON object; do not upload")
        return
    if key is not None:
        reason = seal.check_seal(doc, key)
        if reason:
            report.problems.append(f"{label}: {reason}")
    name = f"{contract.PAYMENTS}/{day}/{MANIFEST}"
    folders = doc.get("folders")
    entry = folders.get(name) if isinstance(folders, dict) else None
    named = entry.get("sha256") if isinstance(entry, dict) else None
    digest = hashlib.sha256(manifest_bytes).hexdigest()
    if named is None:
        report.problems.append(f"{label}: does not name {name} (no 'folders' entry with its sha256); do not upload")
    elif named != digest:
        report.problems.append(
            f"{label}: names {name} with SHA-256 {named}, but its SHA-256 is {digest}: the folder's manifest is"
            " not the one the day published (changed after publishing, or publishing did not finish); do not upload"
        )
    else:
        report.notes.append(f"{label} names this manifest")
