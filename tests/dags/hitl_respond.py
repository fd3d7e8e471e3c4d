"""Answer claims_daily's approval task the way the Airflow UI does, for end-to-end tests.

Runs beside `dag.test()`, which keeps a run alive while a Human-in-the-loop task awaits input:
waits for `approve_payment_batch` to await input, then records the answer through Airflow's own
HITL API route function, as the *Required actions* page would.
Usage: python hitl_respond.py Approve|Reject [USER [COUNT [REASON]]]   (answers COUNT approvals, default 1)
Exits 3, printing `refused STATUS: DETAIL`, when Airflow refuses the answer (e.g. USER is not an assigned user).
"""

from __future__ import annotations

import sys
import time


def main(option: str, user: str, count: int, reason: str = "", wait_s: int = 600) -> int:
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from fastapi import HTTPException
    from sqlalchemy import select

    create_auth_manager()  # the route checks an answer against the task's assigned users through it
    answered = 0
    for _ in range(wait_s):
        with create_session() as session:
            ti = session.scalar(
                select(TaskInstance).where(
                    TaskInstance.task_id == "approve_payment_batch",
                    TaskInstance.state == TaskInstanceState.AWAITING_INPUT,
                )
            )
            if ti is not None:
                try:
                    response = update_hitl_detail(
                        dag_id=ti.dag_id,
                        dag_run_id=ti.run_id,
                        task_id=ti.task_id,
                        update_hitl_detail_payload=UpdateHITLDetailPayload(
                            chosen_options=[option], params_input={"reason": reason} if reason else {}
                        ),
                        user=SimpleAuthManagerUser(username=user, role="admin"),
                        session=session,
                    )
                except HTTPException as exc:
                    session.rollback()
                    print(f"refused {exc.status_code}: {exc.detail}", flush=True)
                    return 3
                print("responded", ti.run_id, response.chosen_options, flush=True)
                answered += 1
                if answered == count:
                    return 0
        time.sleep(1)
    print(f"answered {answered} of {count} approvals before giving up", file=sys.stderr)
    return 1


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(
        main(
            args[0],
            args[1] if len(args) > 1 else "kim.finance",
            int(args[2]) if len(args) > 2 else 1,
            args[3] if len(args) > 3 else "",
        )
    )
