"""What every relief DAG shares: owner, tags, retries, and no retry on a deterministic error.

Not a DAG file (the underscore; `.airflowignore` keeps the DAG processor off it): the DAG files import it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

OWNER = "relief"
KST = "Asia/Seoul"


def default_args(**overrides: Any) -> dict[str, Any]:
    """Two retries for what may pass (a database or disk hiccup); none for a ReliefError.

    A bad inbox file, a failed audit or an out-of-order day fails the same way every time:
    the task fails at once with its message instead of retrying.
    """
    return {
        "owner": OWNER,
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=2),
        "retry_policy": ExceptionRetryPolicy(
            rules=[RetryRule(exception="etl.core.errors.ReliefError", action=RetryAction.FAIL, reason="deterministic")]
        ),
        **overrides,
    }


def tags(*extra: str) -> list[str]:
    return [OWNER, *extra]
