"""plan_rollout: eligibility, the pass cap and its ties, one bundle per user, the rollout date."""

from __future__ import annotations

import csv

import pytest

import etl.rollout as rollout
from etl.core.errors import ReliefError
from tests.etl.rollout.helpers import (
    DAY,
    grants_dir,
    manifest,
    program_with_cap,
    read_grants,
    reference_rollout,
    write_users,
)


def test_eligibility_withdrawn_and_late_joiners_get_nothing(settings, program):
    write_users(
        settings,
        [
            "u01,active,2022-10-15,",  # joined on the outage day: eligible
            "u02,dormant,2010-03-18,",  # dormant is not withdrawn: eligible
            "u03,withdrawn,2015-01-01,2022-12-30T10:00:00+09:00",
            "u04,active,2022-10-16,2022-12-30T10:00:00+09:00",  # joined the day after
            "u05,active,2023-01-04,",
        ],
    )
    result = rollout.run_rollout(settings, program, DAY)
    assert sorted(read_grants(settings)) == [("u01", "relief_base"), ("u02", "relief_base")]
    counts = result["counts"]
    assert (counts["eligible"], counts["ineligible_withdrawn"], counts["ineligible_joined_after"]) == (2, 1, 2)
    assert counts["relief_base_td"] == 0


def test_pass_cap_goes_to_the_earliest_eligible_optins_ties_by_user_id(tmp_path, settings, program):
    prog = program_with_cap(tmp_path, program, 3)
    write_users(
        settings,
        [
            "u01,withdrawn,2015-01-01,2022-12-30T08:00:00+09:00",  # earliest of all, but withdrawn: no pass
            "u02,active,2022-11-01,2022-12-30T08:00:00+09:00",  # joined too late: no pass
            "u09,active,2015-01-01,2022-12-30T09:00:00+09:00",  # earliest eligible
            "u07,active,2015-01-01,2022-12-30T10:00:00+09:00",  # four tied at 10:00 KST for two passes
            "u04,dormant,2015-01-01,2022-12-30T10:00:00+09:00",
            "u03,active,2015-01-01,2022-12-30T01:00:00Z",  # the same instant, written in UTC
            "u05,active,2015-01-01,2022-12-30T10:00:00+09:00",
            "u06,active,2015-01-01,2022-12-31T10:00:00+09:00",
            "u08,active,2015-01-01,",
        ],
    )
    result = rollout.run_rollout(settings, prog, DAY, shard_size=2)
    grants = dict(read_grants(settings))
    assert {u for u, b in grants.items() if b == "relief_base_td"} == {"u09", "u03", "u04"}
    assert {u for u, b in grants.items() if b == "relief_base"} == {"u07", "u05", "u06", "u08"}
    cutoff = manifest(settings)["pass_cutoff"]
    assert (cutoff["user_id"], cutoff["optin_at"]) == ("u04", "2022-12-30T01:00:00+00:00")
    assert (cutoff["tied_at_cutoff"], cutoff["tied_given_pass"]) == (4, 2)
    assert result["counts"]["relief_base_td"] == 3 and result["items"]["talk_drawer_plus_1m"] == 3


def test_fewer_optins_than_passes_all_get_one(settings, program):
    write_users(settings, ["u1,active,2015-01-01,2022-12-30T10:00:00+09:00", "u2,active,2015-01-01,"])
    rollout.run_rollout(settings, program, DAY)
    assert dict(read_grants(settings)) == {"u1": "relief_base_td", "u2": "relief_base"}
    assert manifest(settings)["pass_cutoff"] is None


def test_every_eligible_user_exactly_once_across_shards(settings, generated):
    prog, info = generated
    result = rollout.run_rollout(settings, prog, DAY, shard_size=3_000)
    grants = read_grants(settings)
    users = [u for u, _ in grants]
    assert len(users) == len(set(users))  # nobody twice
    expected = reference_rollout(settings.inbox / "users.csv", prog)
    assert dict(grants) == expected  # the exact same people, with the same bundles
    assert len(list(grants_dir(settings).glob("part-*.csv"))) == result["shards"] == 7
    assert info["eligible_optins"] > prog.talk_drawer_cap  # the cap binds
    assert result["counts"]["relief_base_td"] == prog.talk_drawer_cap == 1_250
    m = manifest(settings)
    assert sum(s["rows"] for s in m["shards"]) == len(expected)
    assert sum(s["relief_base_td"] for s in m["shards"]) == 1_250


def test_malformed_rows_are_quarantined_and_duplicates_get_one_bundle(settings, generated):
    prog, info = generated
    result = rollout.run_rollout(settings, prog, DAY, shard_size=3_000)
    counts = result["counts"]
    assert counts["rows_received"] == info["rows"] == 20_017
    assert counts["quarantined"] == 12 and counts["duplicate_rows"] == 5 and counts["users"] == 20_000
    assert counts["rows_received"] == counts["users"] + counts["duplicate_rows"] + counts["quarantined"]
    assert counts["quarantined_by_reason"] == {
        "bad_joined_at": 2,
        "bad_status": 2,
        "bad_talk_drawer_optin_at": 4,
        "empty_user_id": 2,
        "wrong_field_count": 2,
    }
    m = manifest(settings)
    assert m["quarantine"]["rows"] == 12 and m["files"]["rejected_users.csv"]["rows"] == 12
    lines = (settings.inbox / "users.csv").read_text(encoding="utf-8").split("\n")
    with open(grants_dir(settings) / "rejected_users.csv", newline="", encoding="utf-8") as fh:
        rejected = list(csv.DictReader(fh))
    assert len(rejected) == 12
    for r in rejected:  # the line number points at the raw row
        assert lines[int(r["line_no"]) - 1] == r["raw"] and r["source_file"] == "users.csv"
    # the duplicates' last rows say withdrawn: the later row wins, so u000000001..5 get nothing
    grants = dict(read_grants(settings))
    assert not any(f"u{i:09d}" in grants for i in range(1, 6))
    assert counts["eligible"] == info["eligible"] - sum(
        1 for i in range(1, 6) if f"u{i:09d}" in reference_rollout_without_dups(settings, prog)
    )


def reference_rollout_without_dups(settings, prog) -> set[str]:
    """The eligible users had the duplicate rows not been appended."""
    text = (settings.inbox / "users.csv").read_text(encoding="utf-8").split("\n")
    kept = list(text[:20_001])  # header + the 20,000 generated users
    path = settings.inbox.parent / "nodups.csv"
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return set(reference_rollout(path, prog))


def test_sorted_directory_with_a_repeated_user(settings, program):
    """A directory sorted by user_id (no repeats: no hashing needed), except one user listed twice."""
    write_users(
        settings,
        [
            "u1,active,2015-01-01,2022-12-30T10:00:00+09:00",
            "u2,active,2015-01-01,",
            "u2,withdrawn,2015-01-01,",  # the last row wins: u2 gets nothing
            "u3,active,2015-01-01,",
        ],
    )
    result = rollout.run_rollout(settings, program, DAY)
    assert sorted(read_grants(settings)) == [("u1", "relief_base_td"), ("u3", "relief_base")]
    assert result["counts"]["duplicate_rows"] == 1 and result["counts"]["users"] == 3
    write_users(settings, ["u1,active,2015-01-01,", "u2,active,2015-01-01,", "u3,withdrawn,2015-01-01,"])
    result = rollout.run_rollout(settings, program, DAY)
    assert result["counts"]["duplicate_rows"] == 0 and sorted(read_grants(settings)) == [
        ("u1", "relief_base"),
        ("u2", "relief_base"),
    ]


def test_wrong_day_is_refused(settings, program):
    write_users(settings, ["u1,active,2015-01-01,"])
    with pytest.raises(ReliefError, match="rollout date is 2023-01-05"):
        rollout.run_rollout(settings, program, "2023-01-06")
