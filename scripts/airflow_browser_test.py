"""claims_daily operated in the Airflow UI by a person, played by a headless Chromium (Playwright).

Starts Airflow (`airflow standalone`: scheduler, dag-processor, triggerer, api-server, LocalExecutor, SQLite) on a
free port over a generated three-day inbox, with the shipped program (a person approves every batch; approvers
["admin"]) narrowed to a three-day intake window closing three days later. Then, in the browser, as admin:

1. logs in and unpauses claims_daily (catchup runs the days in order, one at a time);
2. approves day 1 in *Required actions* (the form: SHA-256, by basis, queue, holds, links);
3. rejects day 2 with a reason, and sees the run failed (rejected) and day 3 failed fast behind it;
4. clears day 2's run (recompute), approves it; clears day 3's run, which publishes (no payments: no person);
5. opens the Data Docs link and the finance report link of day 3 (the outbox is served on 127.0.0.1);
6. checks the failure alert of the rejection and the missed-deadline alert reached the webhook.

Screenshots go to `var/browser/` (or --shots). Everything started is stopped at the end, also on failure.
Chromium is Debian's (`/usr/bin/chromium`; never `playwright install`); every request it makes to anything but
127.0.0.1 is aborted. Usage: python scripts/airflow_browser_test.py [--shots DIR] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DAGS = REPO / "dags"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DAYS = ("2022-10-15", "2022-10-16", "2022-10-17")
DAG_ID = "claims_daily"
REJECT_REASON = "payee names do not match the claims"


# Everything this script asks over HTTP is on 127.0.0.1: never through a proxy.
OPEN = urllib.request.build_opener(urllib.request.ProxyHandler({})).open


def log(msg: str) -> None:
    print(f"[browser-test {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_id_of(day: str) -> str:
    """A scheduled run's id in Airflow 3.3: its *run after* (the day's end, next midnight KST) in UTC."""
    end = dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone(dt.timedelta(hours=9))) + dt.timedelta(days=1)
    return f"scheduled__{end.astimezone(dt.UTC).isoformat()}"


# ---------------------------------------------------------------------------------------------
# the workspace: a three-day inbox, the program overlay


def make_inbox(root: Path) -> dict[str, str]:
    """Claims for three days: day 1 pays two businesses, day 2 one, day 3 none (so it needs no person)."""
    sys.path.insert(0, str(REPO))
    from tests.builders import Workspace, claim, make_brn

    ws = Workspace(root, f"sqlite:///{root / 'warehouse.sqlite'}")
    ws.deliver(
        DAYS[0],
        [
            claim(
                receipt_no="B1", business_reg_no=make_brn(801), claimed_loss_krw=120_000, account_no="110-432-118290"
            ),
            claim(receipt_no="B2", business_reg_no=make_brn(802), claimed_loss_krw=420_000),
            claim(receipt_no="B3", business_reg_no=make_brn(803), claimed_loss_krw=900_000),  # the council's queue
        ],
    )
    ws.deliver(
        DAYS[1],
        [
            claim(
                receipt_no="B4",
                business_reg_no=make_brn(804),
                claimed_loss_krw=60_000,
                received_at="2022-10-16T10:00:00+09:00",
            )
        ],
    )
    ws.deliver(
        DAYS[2],
        [
            claim(
                receipt_no="B5",
                claimant_type="individual",
                business_reg_no="",
                kakao_account_id="kakao-5",
                monetary_loss="false",
                claimed_loss_krw="",
                bank_code="",
                account_no="",
                account_holder="",
                received_at="2022-10-17T10:00:00+09:00",
            )
        ],
    )
    program = root / "program.toml"
    program.write_text(
        f'extends = "{REPO / "programs" / "kakao_1015.toml"}"\n\n'
        '# The shipped policy (a person approves each batch; approvers = ["admin"]) over a three-day window.\n'
        f"[intake]\nfirst_day = {DAYS[0]}\nlast_day = {DAYS[2]}\n\n[settlement]\nclose_date = 2022-10-20\n",
        encoding="utf-8",
    )
    return {
        "RELIEF_INBOX": str(ws.settings.inbox),
        "RELIEF_OUTBOX": str(ws.settings.outbox),
        "RELIEF_DB_URL": ws.settings.db_url,
        "RELIEF_PROGRAM": str(program),
        # The manifests' seal: the demo's key unless the environment has one (see the Makefile).
        "RELIEF_SEAL_KEY": os.environ.get("RELIEF_SEAL_KEY") or "demo-only-key",
    }


# ---------------------------------------------------------------------------------------------
# local servers: the outbox over HTTP (what a file server in front of it does), and the alert webhook


@dataclass
class LocalServers:
    outbox_url: str
    webhook_url: str
    alerts: list[dict] = field(default_factory=list)
    _servers: list[ThreadingHTTPServer] = field(default_factory=list)

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()


def start_local_servers(outbox: Path) -> LocalServers:
    outbox.mkdir(parents=True, exist_ok=True)
    alerts: list[dict] = []

    class Outbox(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    class Webhook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with contextlib.suppress(ValueError):
                alerts.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    files = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Outbox, directory=str(outbox)))
    hook = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    for server in (files, hook):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    return LocalServers(
        f"http://127.0.0.1:{files.server_address[1]}/",
        f"http://127.0.0.1:{hook.server_address[1]}/relief-alerts",
        alerts,
        [files, hook],
    )


# ---------------------------------------------------------------------------------------------
# Airflow standalone


@dataclass
class Airflow:
    home: Path
    port: int
    proc: subprocess.Popen
    output: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def password(self) -> str:
        doc = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text(encoding="utf-8"))
        return str(doc["admin"])

    def tail(self, n: int = 4000) -> str:
        try:
            return self.output.read_text(encoding="utf-8", errors="replace")[-n:]
        except OSError:
            return ""

    def crashes(self) -> list[str]:
        """Lines where an Airflow component's loop died (the triggerer's, the scheduler's): each one can fail
        whatever that component was running (a deadline callback returning a dict crashed the triggerer)."""
        text = self.output.read_text(encoding="utf-8", errors="replace") if self.output.is_file() else ""
        return [line[:300] for line in text.splitlines() if "Exception when executing" in line]

    def task_logs(self, newest: int = 4, lines: int = 12) -> str:
        """The last events of the newest task attempt logs: what a failed or retried task said."""
        found = sorted((self.home / "logs").rglob("attempt=*.log"), key=lambda p: p.stat().st_mtime)[-newest:]
        out = []
        for path in found:
            events = []
            for raw in path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]:
                try:
                    doc = json.loads(raw)
                    events.append(
                        f"  {doc.get('timestamp', '')[11:19]} {doc.get('level', '')} {doc.get('event', '')}"[:400]
                    )
                except ValueError:
                    events.append(f"  {raw[:400]}")
            out.append(f"{path.relative_to(self.home / 'logs')}:\n" + "\n".join(events))
        return "\n".join(out)

    def validations(self) -> dict[str, str]:
        """Each validation task attempt's log, by path, and how it found Great Expectations: "preloaded by the
        worker" (etl/quality/local_executor.py) or "imported in" (the task paid the import)."""
        found = {}
        for path in sorted((self.home / "logs").rglob("task_id=validate_*/attempt=*.log")):
            text = path.read_text(encoding="utf-8", errors="replace")
            said = next((w for w in ("preloaded by the worker", "imported in") if w in text), "")
            found[str(path.relative_to(self.home / "logs"))] = said
        return found

    def stop(self) -> None:
        """Stop standalone and everything it started (its own process group), and only that."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):  # workers left behind in the group
            os.killpg(self.proc.pid, signal.SIGKILL)


def start_airflow(home: Path, relief_env: dict[str, str], template_db: Path | None = None) -> Airflow:
    """`airflow standalone` with the venv's bin first on PATH, on a free port; waits until the API answers."""
    home.mkdir(parents=True, exist_ok=True)
    if template_db is not None:  # an already-migrated metadata database: standalone's migration is then quick
        shutil.copyfile(template_db, home / "airflow.db")
    port = free_port()
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__") and k != "AIRFLOW_CONFIG"}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DEFAULT_TIMEZONE="Asia/Seoul",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        AIRFLOW__CORE__PARALLELISM="4",
        AIRFLOW__CORE__EXECUTOR="etl.quality.local_executor.PreloadingLocalExecutor",
        AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME="0.5",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
        AIRFLOW__WEBSERVER__EXPOSE_CONFIG="False",
        GX_ANALYTICS_ENABLED="False",
        NO_PROXY="*",
        no_proxy="*",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        **relief_env,
    )
    output = home / "standalone.log"
    with open(output, "wb") as out:
        proc = subprocess.Popen(
            [str(bin_dir / "airflow"), "standalone"],
            cwd=home,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    airflow = Airflow(home, port, proc, output)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"airflow standalone exited {proc.returncode}:\n{airflow.tail()}")
        try:
            with OPEN(f"{airflow.url}/api/v2/monitor/health", timeout=2) as r:
                health = json.loads(r.read())
            ready = all((health.get(part) or {}).get("status") == "healthy" for part in ("metadatabase", "scheduler"))
            if ready and (home / "simple_auth_manager_passwords.json.generated").is_file():
                return airflow
        except (OSError, ValueError):
            pass
        time.sleep(1)
    airflow.stop()
    raise RuntimeError(f"Airflow did not become healthy in 180 s:\n{airflow.tail()}")


class Api:
    """Airflow's public REST API (v2) as admin: used to wait for states and to read what the UI shows."""

    def __init__(self, airflow: Airflow):
        self.base = airflow.url
        body = json.dumps({"username": "admin", "password": airflow.password()}).encode()
        request = urllib.request.Request(
            f"{self.base}/auth/token", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with OPEN(request, timeout=10) as r:
            self.token = json.loads(r.read())["access_token"]

    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.base}/api/v2{path}",
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method=method,
        )
        with OPEN(request, timeout=15) as r:
            data = r.read()
        return json.loads(data) if data else None

    def run(self, day: str) -> dict | None:
        try:
            return self.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id_of(day)}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def task(self, day: str, task_id: str) -> dict | None:
        try:
            return self.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id_of(day)}/taskInstances/{task_id}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise


def wait_for(what: str, check: Callable[[], Any], timeout: float, airflow: Airflow, poll: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, ValueError) as exc:  # the API restarting, a timeout: try again
            last = exc
        if last and not isinstance(last, Exception):
            return last
        if airflow.proc.poll() is not None:
            raise RuntimeError(f"Airflow stopped while waiting for {what}:\n{airflow.tail()}")
        time.sleep(poll)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s (last: {last!r:.300}); Airflow's output:\n{airflow.tail()}")


def run_state(api: Api, day: str, *states: str) -> Callable[[], bool]:
    def check() -> bool:
        run = api.run(day)
        return bool(run and run["state"] in states)

    return check


def task_state(api: Api, day: str, task_id: str, *states: str) -> Callable[[], bool]:
    def check() -> bool:
        ti = api.task(day, task_id)
        return bool(ti and ti["state"] in states)

    return check


# ---------------------------------------------------------------------------------------------
# the browser


@contextlib.contextmanager
def browser_page(shots: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="en-US")

            def local_only(route: Any) -> None:
                url = route.request.url
                if url.startswith(("http://127.0.0.1", "http://localhost", "file:", "data:", "blob:", "about:")):
                    route.continue_()
                else:  # nothing leaves the machine (a page's CDN, a font, telemetry)
                    route.abort()

            context.route("**/*", local_only)
            page = context.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


class Shots:
    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.n = 0
        self.taken: list[Path] = []

    def __call__(self, page: Any, name: str, full_page: bool = True) -> Path:
        self.n += 1
        path = self.folder / f"{self.n:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        self.taken.append(path)
        log(f"screenshot {path.relative_to(self.folder.parent) if self.folder.parent in path.parents else path}")
        return path


# ---------------------------------------------------------------------------------------------
# what a person does in the UI


def login(page: Any, airflow: Airflow) -> None:
    page.goto(f"{airflow.url}/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(airflow.password())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


def set_timezone(page: Any, airflow: Airflow, zone: str = "Asia/Seoul") -> None:
    """The UI's timezone menu (bottom left): show every date in KST, as the program's people read them."""
    page.goto(f"{airflow.url}/dags/{DAG_ID}")
    page.get_by_role("button", name="+00:00").click()
    page.get_by_role("dialog").get_by_role("combobox").click()
    page.keyboard.type(zone.split("/")[-1])
    page.get_by_role("option", name=zone).first.click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="+09:00").wait_for()


def unpause(page: Any, airflow: Airflow, api: Api) -> None:
    page.goto(f"{airflow.url}/dags/{DAG_ID}")
    page.locator('label:has(input[id^="switch:"])').first.click()
    wait_for("claims_daily unpaused", lambda: not api.call("GET", f"/dags/{DAG_ID}")["is_paused"], 30, airflow)


def answer(page: Any, airflow: Airflow, day: str, option: str, shots: Shots, reason: str = "") -> None:
    """Open the day's approval from Browse -> Required actions, read it, give the reason, press the button."""
    page.goto(f"{airflow.url}/required_actions")
    page.get_by_text(f"{day}: release the 1015 relief payment batch").first.wait_for()
    shots(page, f"required-actions-{day}")
    page.get_by_text(f"{day}: release the 1015 relief payment batch").first.click()
    page.get_by_role("button", name=option, exact=True).wait_for()
    body = page.inner_text("body")
    for expected in (f"Intake day {day}: payment batch", "batch SHA-256", "By basis", "paid so far, net of returns"):
        if expected not in body:
            raise AssertionError(f"the approval form of {day} does not show {expected!r}")
    shots(page, f"approval-form-{day}")
    if reason:
        page.get_by_role("textbox").first.fill(reason)
    page.get_by_role("button", name=option, exact=True).click()
    page.get_by_text("response successful").first.wait_for()
    shots(page, f"{option.lower()}ed-{day}", full_page=False)


def clear_run(page: Any, airflow: Airflow, day: str, shots: Shots) -> None:
    """Browse to the day's run and clear it (the run's Clear button, then Confirm): Airflow runs it again."""
    page.goto(f"{airflow.url}/dags/{DAG_ID}/runs/{run_id_of(day)}")
    page.get_by_role("button", name="Press shift+c to clear").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Confirm").wait_for()
    shots(page, f"clear-run-{day}", full_page=False)
    dialog.get_by_role("button", name="Confirm").click()
    dialog.wait_for(state="hidden")


def open_extra_link(
    page: Any, airflow: Airflow, day: str, task_id: str, name: str, shots: Shots, expect: str
) -> str | None:
    """Click a task instance's extra link (Details tab, *Extra Links*); screenshot the page it opens.

    Returns the link's URL, or None when it leads nowhere yet (the file server answers 404).
    """
    page.goto(f"{airflow.url}/dags/{DAG_ID}/runs/{run_id_of(day)}/tasks/{task_id}/details")
    link = page.get_by_role("link", name=name, exact=True).first
    link.wait_for()
    shots(page, f"{task_id}-{day}-extra-links", full_page=False)
    url = str(link.get_attribute("href") or "")
    with page.context.expect_page() as opened:
        link.click()
    tab = opened.value
    try:
        tab.wait_for_load_state()
        text = tab.inner_text("body")
        if "Error code: 404" in text:
            return None
        if expect not in text:
            raise AssertionError(f"{name} ({url}) does not show {expect!r}")
        shots(tab, f"{name.lower().replace(' ', '-')}-{day}")
        return url
    finally:
        tab.close()


# ---------------------------------------------------------------------------------------------
# the whole test


def run(root: Path, shot_dir: Path, template_db: Path | None = None, keep: bool = False) -> dict[str, Any]:
    """Everything above, in order; raises on the first step that fails; stops all it started. Returns facts."""
    started = time.monotonic()
    shots = Shots(shot_dir)
    relief_env = make_inbox(root)
    servers = start_local_servers(Path(relief_env["RELIEF_OUTBOX"]))
    relief_env.update(RELIEF_OUTBOX_URL=servers.outbox_url, RELIEF_ALERT_WEBHOOK=servers.webhook_url)
    airflow: Airflow | None = None
    facts: dict[str, Any] = {"screenshots": shots.taken}
    try:
        airflow = start_airflow(root / "airflow", relief_env, template_db)
        facts["airflow_ready_s"] = round(time.monotonic() - started, 1)
        log(f"Airflow ready on {airflow.url} after {facts['airflow_ready_s']} s")
        api = Api(airflow)
        d1, d2, d3 = DAYS
        with browser_page(shot_dir) as page:
            login(page, airflow)
            set_timezone(page, airflow)
            unpause(page, airflow, api)
            shots(page, "unpaused", full_page=False)

            # Day 1: approved in Required actions; published.
            wait_for(
                f"{d1} awaiting approval", task_state(api, d1, "approve_payment_batch", "awaiting_input"), 240, airflow
            )
            answer(page, airflow, d1, "Approve", shots)
            wait_for(f"{d1} published", run_state(api, d1, "success"), 120, airflow)

            # Day 2: rejected with a reason: the run fails (rejected); day 3 fails fast behind it.
            wait_for(
                f"{d2} awaiting approval", task_state(api, d2, "approve_payment_batch", "awaiting_input"), 240, airflow
            )
            answer(page, airflow, d2, "Reject", shots, reason=REJECT_REASON)
            wait_for(f"{d2} failed (rejected)", run_state(api, d2, "failed"), 120, airflow)
            page.goto(f"{airflow.url}/dags/{DAG_ID}/runs/{run_id_of(d2)}/tasks/close_day")
            page.get_by_text(f"rejected by admin: {REJECT_REASON}").first.wait_for(timeout=60_000)
            shots(page, f"rejected-{d2}-close_day-log", full_page=False)
            wait_for(f"{d3} failed fast", run_state(api, d3, "failed"), 120, airflow)
            page.goto(f"{airflow.url}/dags/{DAG_ID}/runs")
            page.get_by_text(run_id_of(d2)).first.wait_for()
            shots(page, "runs-after-rejection")

            # Recompute day 2: clear its run, and day 3's behind it (queued: they run in order, one at a time).
            clear_run(page, airflow, d2, shots)
            clear_run(page, airflow, d3, shots)
            wait_for(
                f"{d2} awaiting approval again",
                task_state(api, d2, "approve_payment_batch", "awaiting_input"),
                240,
                airflow,
            )
            answer(page, airflow, d2, "Approve", shots)
            wait_for(f"{d2} published", run_state(api, d2, "success"), 120, airflow)
            # Day 3 publishes without a person: its batch has no payments.
            wait_for(f"{d3} published", run_state(api, d3, "success"), 240, airflow)
            page.goto(f"{airflow.url}/dags/{DAG_ID}/runs")
            page.get_by_text(run_id_of(d3)).first.wait_for()
            shots(page, "runs-all-published")

            # The day's pages: Data Docs (validate_claims' link) and the finance report (publish_outbox's link).
            if not open_extra_link(page, airflow, d3, "validate_claims", "Data Docs", shots, f"Data Docs: {d3}"):
                raise AssertionError(f"the Data Docs link of {d3} leads nowhere")
            facts["finance_report"] = open_extra_link(page, airflow, d3, "publish_outbox", "Finance report", shots, d3)
            if not facts["finance_report"]:
                raise AssertionError(
                    f"the finance report link of {d3} leads nowhere (reports/finance/{d3}/finance.html)"
                )
            page.goto(f"{airflow.url}/assets")
            page.get_by_text("relief_published_day").first.wait_for()
            shots(page, "assets")

        # The alerts the run sent: the rejection (close_day failed) and the missed deadline (the triggerer's).
        wait_for(
            "the rejection's alert",
            lambda: any("close_day failed" in a.get("subject", "") for a in servers.alerts),
            60,
            airflow,
        )
        wait_for(
            "a missed-deadline alert",
            lambda: any(a.get("kind") == "deadline_missed" for a in servers.alerts),
            120,
            airflow,
        )
        facts["alerts"] = list(servers.alerts)
        facts["crashes"] = airflow.crashes()
        facts["validations"] = airflow.validations()
        payments = {d: (Path(relief_env["RELIEF_OUTBOX"]) / "payments" / d / "manifest.json").is_file() for d in DAYS}
        if not all(payments.values()):
            raise AssertionError(f"payment folders published: {payments}")
        facts["seconds"] = round(time.monotonic() - started, 1)
        log(f"done in {facts['seconds']} s; screenshots in {shot_dir}")
        return facts
    except BaseException:
        if airflow is not None:
            log(f"failed; Airflow's output ends:\n{airflow.tail(6000)}")
            log(f"the newest task logs:\n{airflow.task_logs()}")
        raise
    finally:
        if airflow is not None and not keep:
            airflow.stop()
        servers.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shots", type=Path, default=REPO / "var" / "browser")
    parser.add_argument("--keep", action="store_true", help="leave the work folder (and Airflow's logs) in place")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="relief-browser-"))
    try:
        facts = run(root, args.shots, keep=args.keep)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({k: v for k, v in facts.items() if k != "alerts"}, default=str, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
