"""Answer the claims_daily approval task the way the Airflow UI does, for end-to-end tests.

Runs beside `dag.test()` (which keeps a run alive while a Human-in-the-loop task awaits input):
waits for `approve_payment_batch` to be awaiting input, then records the answer through Airflow's
own HITL API route function, as the *Required actions* page would.
Usage: python hitl_respond.py Approve|Reject [USER]
"""

import sys, time
from sqlalchemy import select
from airflow.utils.session import create_session
from airflow.models.taskinstance import TaskInstance as TI
from airflow.utils.state import TaskInstanceState
from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
option = sys.argv[1]
user = sys.argv[2] if len(sys.argv) > 2 else "kim.finance"
for _ in range(180):
    with create_session() as s:
        ti = s.scalar(select(TI).where(TI.task_id == "approve_payment_batch", TI.state == TaskInstanceState.AWAITING_INPUT))
        if ti is not None:
            r = update_hitl_detail(dag_id=ti.dag_id, dag_run_id=ti.run_id, task_id=ti.task_id,
                update_hitl_detail_payload=UpdateHITLDetailPayload(chosen_options=[option], params_input={}),
                user=SimpleAuthManagerUser(username=user, role="admin"), session=s)
            print("responded", r.chosen_options)
            sys.exit(0)
    time.sleep(1)
sys.exit("approve_payment_batch never awaited input")
