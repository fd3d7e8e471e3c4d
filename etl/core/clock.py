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
    if len(utc_text) != 27 or utc_text[10] != "T" or utc_text[19] != "." or utc_text[-1] != "Z":
        raise ValueError(f"not a stored UTC timestamp (YYYY-MM-DDTHH:MM:SS.ffffffZ): {utc_text!r}")
    ts = dt.datetime.fromisoformat(utc_text)  # 20x strptime's speed; the shape is checked above
    return ts.astimezone(KST).isoformat(timespec="seconds" if ts.microsecond == 0 else "microseconds")
