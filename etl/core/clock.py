"""Time: the program's time zone, and the one place the wall clock is read (for audit stamps only).

No data date is ever derived from the clock: a run's day comes from its logical date.
"""

from __future__ import annotations

import datetime as dt

KST = dt.timezone(dt.timedelta(hours=9))


def audit_now() -> str:
    """The current UTC time as text, for `updated_at` / `decided_at` audit columns."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def to_kst(utc_text: str) -> str:
    """A stored UTC timestamp (`...Z`) as ISO 8601 in KST, for the files people read."""
    ts = dt.datetime.strptime(utc_text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    return ts.astimezone(KST).isoformat(timespec="seconds" if ts.microsecond == 0 else "microseconds")
