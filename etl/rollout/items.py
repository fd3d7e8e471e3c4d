"""The program's items as the rollout reports them: counts per item, and each item's description.

Both the manifest (finish) and the budget need them; they live here, importing neither, so that
both can import them at the top without an import circle.
"""

from __future__ import annotations

from etl.core.config import Program
from etl.rollout.results import ItemDoc


def item_counts(program: Program, bundle_counts: dict[str, int]) -> dict[str, int]:
    """Items granted, per item code, given the users per bundle (every item of the program, 0 if none)."""
    counts = {i.code: 0 for i in program.items}
    for code, n in bundle_counts.items():
        for item in program.bundle(code).items:
            counts[item] += n
    return counts


def item_doc(program: Program, code: str) -> ItemDoc:
    """An item as the manifest describes it: kind, face value and validity."""
    item = program.item(code)
    return {
        "code": item.code,
        "kind": item.kind,
        "name": item.name,
        "face_value_krw": item.unit_value_krw,
        "valid_from": item.valid_from.isoformat(),
        "valid_to": item.valid_to.isoformat() if item.valid_to else None,
        "validity": "permanent" if item.valid_to is None else f"{item.valid_from}..{item.valid_to}",
    }
