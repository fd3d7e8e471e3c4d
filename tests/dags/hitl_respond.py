"""Answer claims_daily's approval task the way the Airflow UI does, for end-to-end tests.

Runs beside `dag.test()`, which keeps a run alive while a Human-in-the-loop task awaits input:
waits for `approve_payment_batch` to await input, then records the answer through Airflow's own
HITL API route function, as the *Required actions* page would.

`dag.test()` can lose the resume of an answer given too soon: its `_run_task` writes the parked
state (`awaiting_input`) back over the task instance after the task itself has parked it, so an
answer recorded in between is kept but its resume (`scheduled`) is overwritten, and nothing in
`dag.test()` looks again (a deployment's scheduler and triggerer do). A task instance that awaits
input with its answer already recorded is therefore resumed here from that answer, as the
triggerer would; it is never answered twice.

Usage: python hitl_respond.py [--lose-first-resume] Approve|Reject [USER [COUNT [REASON]]]
(answers COUNT approvals, default 1). `--lose-first-resume` writes the parked state back over the
first answer's resume, as that race does, for the test of the recovery.
Exits 3, printing `refused STATUS: DETAIL`, when Airflow refuses the answer (e.g. USER is not an assigned user).
"""

from __future__ import annotations

import sys
import time

POLL_SECONDS = 0.5


class Responder:
    """Answers `count` approvals one at a time, each followed until dag.test() runs its task again."""

    def __init__(self, option: str, user: str, count: int, reason: str, lose_first_resume: bool):
        from airflow.api_fastapi.app import create_auth_manager

        create_auth_manager()  # the route checks an answer against the task's assigned users through it
        self.option, self.user, self.count, self.lose_first_resume = option, user, count, lose_first_resume
        self.params_input = {"reason": reason} if reason else {}
        self.answered = 0
        self.resuming = None  # the task instance last answered, until dag.test() runs it again

    def poll(self, session) -> int | None:
        """One look at the metadata database: the exit code once done, else None."""
        return self._answer_next(session) if self.resuming is None else self._follow(session)

    def _answer_next(self, session) -> int | None:
        from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
        from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
        from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.state import TaskInstanceState
        from fastapi import HTTPException
        from sqlalchemy import select

        ti = session.scalar(
            select(TaskInstance).where(
                TaskInstance.task_id == "approve_payment_batch",
                TaskInstance.state == TaskInstanceState.AWAITING_INPUT,
            )
        )
        if ti is None or detail_of(ti, session) is None:
            return None
        try:
            response = update_hitl_detail(
                dag_id=ti.dag_id,
                dag_run_id=ti.run_id,
                task_id=ti.task_id,
                update_hitl_detail_payload=UpdateHITLDetailPayload(
                    chosen_options=[self.option], params_input=self.params_input
                ),
                user=SimpleAuthManagerUser(username=self.user, role="admin"),
                session=session,
            )
        except HTTPException as exc:
            session.rollback()
            print(f"refused {exc.status_code}: {exc.detail}", flush=True)
            return 3
        if self.lose_first_resume and self.answered == 0:
            ti.state = TaskInstanceState.AWAITING_INPUT  # what dag.test()'s _run_task writes over the resume
            print("responded (its resume overwritten)", ti.run_id, response.chosen_options, flush=True)
        else:
            print("responded", ti.run_id, response.chosen_options, flush=True)
        self.answered += 1
        self.resuming = ti.id
        return None

    def _follow(self, session) -> int | None:
        from airflow.models.taskinstance import TaskInstance
        from airflow.models.trigger import handle_event_submit
        from airflow.triggers.base import TriggerEvent
        from airflow.utils.state import TaskInstanceState

        ti = session.get(TaskInstance, self.resuming)
        if ti is None or ti.state not in (TaskInstanceState.AWAITING_INPUT, TaskInstanceState.SCHEDULED):
            self.resuming = None  # running again (or gone): past the race
            return 0 if self.answered == self.count else None
        detail = detail_of(ti, session)
        if ti.state == TaskInstanceState.AWAITING_INPUT and detail is not None and detail.response_received:
            # Answered, yet parked again: dag.test() wrote awaiting_input over the resume.
            handle_event_submit(TriggerEvent(detail.as_resume_event_payload()), task_instance=ti, session=session)
            print("resumed", ti.run_id, detail.chosen_options, flush=True)
        return None


def detail_of(ti, session):
    """The task instance's HITL detail (TaskInstance.hitl_detail is lazy="raise")."""
    from airflow.models.hitl import HITLDetail
    from sqlalchemy import select

    return session.scalar(select(HITLDetail).where(HITLDetail.ti_id == ti.id))


def main(
    option: str, user: str, count: int, reason: str = "", wait_s: float = 600, lose_first_resume: bool = False
) -> int:
    from airflow.utils.session import create_session
    from sqlalchemy.exc import OperationalError

    responder = Responder(option, user, count, reason, lose_first_resume)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            with create_session() as session:
                done = responder.poll(session)
        except OperationalError as exc:  # SQLite's "database is locked" while dag.test() writes: look again
            print(f"retrying after {exc.orig!r}", flush=True)
            done = None
        if done is not None:
            return done
        time.sleep(POLL_SECONDS)
    print(f"answered {responder.answered} of {count} approvals before giving up", file=sys.stderr)
    return 1


if __name__ == "__main__":
    args = sys.argv[1:]
    lose = "--lose-first-resume" in args
    args = [a for a in args if a != "--lose-first-resume"]
    sys.exit(
        main(
            args[0],
            args[1] if len(args) > 1 else "kim.finance",
            int(args[2]) if len(args) > 2 else 1,
            args[3] if len(args) > 3 else "",
            lose_first_resume=lose,
        )
    )
