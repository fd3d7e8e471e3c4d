"""The row checks: quoted fields, odd timestamps and dates, broken lines, and their quarantine reasons."""

from __future__ import annotations

import etl.rollout as rollout
from tests.etl.rollout.helpers import DAY, read_grants, write_users


def test_odd_but_valid_rows(settings, program):
    write_users(
        settings,
        [
            '"u1","active","2015-01-01","2022-12-30T10:00:00.5+09:00"',  # quoted fields, fractional seconds
            "u2,active,2015-02-30,",  # no such day
            "u3,active,2015-01-01,2022-12-30T10:00:00",  # no offset
            '"u4,active,2015-01-01,',  # a broken quote stays one bad line, not the rest of the file
            "u7,active,2015-01-01",  # three fields
            "u5,active,2015-01-01,\r",  # CRLF
            "",  # a blank line is skipped
            "u6,Active,2015-01-01,",
        ],
    )
    result = rollout.run_rollout(settings, program, DAY)
    assert dict(read_grants(settings)) == {"u1": "relief_base_td", "u5": "relief_base"}
    assert result["counts"]["quarantined_by_reason"] == {
        "bad_joined_at": 1,
        "bad_status": 1,
        "bad_talk_drawer_optin_at": 1,
        "bad_user_id": 1,
        "wrong_field_count": 1,
    }
