"""Personal data as people may see it: account numbers masked to their last four digits."""

from __future__ import annotations


def mask_account(account_no: str) -> str:
    """All but the last four digits starred: enough to recognise an account, not to use it."""
    return "*" * max(len(account_no) - 4, 0) + account_no[-4:]
