"""The shapes of what the rollout's steps return and write, as TypedDicts.

They are plain dicts at runtime, so a step's result goes to JSON (plan.json, the done-markers, the
manifest, `relief rollout`'s output) and to Airflow's XCom as it is; the types only tell mypy and
the reader which keys there are. All of them live here, so a step never imports another step just
to know the shape of what it reads.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


class Fingerprint(TypedDict):
    """What a plan was made from; a re-run with the same fingerprint reuses the plan."""

    version: int
    source: str
    bytes: int
    mtime_ns: int
    config_sha256: str
    day: str
    shard_size: int


class SourceInfo(TypedDict):
    file: str
    bytes: int
    sha256: str


class ShardStats(TypedDict):
    """One staging bucket (= one shard) after its duplicates are dropped."""

    shard: int
    rows_staged: int
    users: int
    eligible: int
    withdrawn: int
    joined_after: int
    eligible_optins: int


class Cutoff(TypedDict):
    """The last pass holder: the cap-th eligible opt-in by (optin_at, user_id)."""

    optin_us: int
    optin_at: str
    user_id: str
    passes_before: int
    tied_at_cutoff: int
    tied_given_pass: int


class PlanCounts(TypedDict):
    """Row accounting: rows_received = users + duplicate_rows + quarantined."""

    rows_received: int
    quarantined: int
    quarantined_by_reason: dict[str, int]
    duplicate_rows: int
    users: int
    ineligible_withdrawn: int
    ineligible_joined_after: int
    eligible: int
    eligible_optins: int


class Plan(TypedDict):
    """`plan_rollout`'s result, also written to plan.json in the staging folder."""

    fingerprint: Fingerprint
    run_id: str
    day: str
    source: SourceInfo
    shards: list[int]
    shard_stats: list[ShardStats]
    cutoff: Cutoff | None
    counts: PlanCounts
    seconds: float


class ShardMarker(TypedDict):
    """`build_shard`'s result, also its done-marker: the part file, its rows, size and SHA-256."""

    shard: int
    file: str
    rows: int
    sha256: str
    bytes: int
    relief_base: int
    relief_base_td: int


class ShardEntry(TypedDict):
    """One shard as the manifest lists it."""

    file: str
    rows: int
    sha256: str
    relief_base: int
    relief_base_td: int


class RolloutCounts(PlanCounts):
    """The plan's counts with the users per bundle."""

    relief_base: int
    relief_base_td: int


class ItemDoc(TypedDict):
    """An item as the manifest describes it."""

    code: str
    kind: str
    name: str
    face_value_krw: int
    valid_from: str
    valid_to: str | None  # None: permanent
    validity: str


class BudgetItem(TypedDict):
    code: str
    kind: str
    name: str
    unit_value_krw: int
    estimate_count: int
    estimate_krw: int
    run_count: int
    run_krw: int


class KindTotal(TypedDict):
    estimate_krw: int
    run_krw: int
    reported_krw: NotRequired[int]  # when PROGRAM.md's cost table gives the kind


class BudgetTotal(TypedDict):
    estimate_krw: int
    run_krw: int
    reported_krw: int


class Budget(TypedDict):
    """The budget's figures (budget.budget: pure, no I/O)."""

    basis_users: int
    talk_drawer_cap: int
    items: list[BudgetItem]
    by_kind: dict[str, KindTotal]
    general_users_total: BudgetTotal
    small_business_cash_paid_krw: int


class BudgetDoc(Budget):
    """budget.json: the figures with the program, config hash, run and day they are for."""

    program: str
    config_sha256: str
    run_id: str
    as_of: str


class FinishResult(TypedDict):
    """`finish_rollout`'s result: what was published."""

    day: str
    run_id: str
    folder: str
    shards: int
    counts: RolloutCounts
    items: dict[str, int]
    budget: BudgetDoc
    files: int


class RunResult(FinishResult):
    """`run_rollout`'s result (what `relief rollout` prints): the finish result and the wall time."""

    seconds: float
