"""`relief`: the pipeline's functions outside a scheduler, for local runs, backfills and tests.

Each subcommand imports what it needs when it runs, so `relief --help` starts fast.
Exit codes: 0 done, 1 the run failed (message on stderr), 2 bad usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys

from etl.core.sidecar import LOG_FORMAT
from etl.core.sidecar_server import DEFAULT_IDLE_S


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _io_options() -> argparse.ArgumentParser:
    # SUPPRESS: the options may stand before or after the subcommand without one hiding the other.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--inbox", default=argparse.SUPPRESS, help="inbox folder (default $RELIEF_INBOX or ./var/inbox)"
    )
    common.add_argument(
        "--outbox", default=argparse.SUPPRESS, help="outbox folder (default $RELIEF_OUTBOX or ./var/outbox)"
    )
    common.add_argument(
        "--db",
        default=argparse.SUPPRESS,
        help="warehouse SQLAlchemy URL (default $RELIEF_DB_URL or ./var/warehouse.sqlite)",
    )
    common.add_argument(
        "--program", default=argparse.SUPPRESS, help="program config file (default $RELIEF_PROGRAM or the 1015 program)"
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _io_options()
    parser = argparse.ArgumentParser(prog="relief", description=__doc__.splitlines()[0], parents=[common])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run-day", parents=[common], help="run the daily claims pipeline for one day (or a range)")
    run.add_argument("day", type=_date)
    run.add_argument("--to", type=_date, help="run every day from DAY through this one, in order, in one process")
    run.add_argument("--approve", action="store_true", help="approve the payment batch (maker-checker) for this run")

    roll = sub.add_parser("rollout", parents=[common], help="build the January 5 grant files")
    roll.add_argument("day", type=_date)
    roll.add_argument("--shard-size", type=int, default=None, help="users per shard")

    rep = sub.add_parser("report", parents=[common], help="print the cumulative figures beside PROGRAM.md's table")
    rep.add_argument("--day", type=_date, help="as of this day (default: the latest day run)")
    rep.add_argument("--json", action="store_true", help="print the summary as JSON")

    close = sub.add_parser("close", parents=[common], help="write the closing report and stop all payment")
    close.add_argument("day", type=_date, help="the close date (default: the program config's close_date)", nargs="?")
    close.add_argument("--by", required=True, help="who closes the program (recorded)")

    rel = sub.add_parser("release", parents=[common], help="second approval of one payment above the cap")
    rel.add_argument("key", help="the business (claimant key) of reviews/DAY/over_cap.csv")
    rel.add_argument("amount", type=int, help="the exact amount held, in KRW")
    rel.add_argument("--by", required=True, help="who releases it (recorded in the audit trail)")
    rel.add_argument("--reason", required=True, help="why (recorded in the audit trail)")

    exp = sub.add_parser("explain", parents=[common], help="a business's whole story: claims, tier, payments, events")
    exp.add_argument("key", help="the claimant key (a business number, hyphens optional)")

    ver = sub.add_parser("verify", parents=[common], help="check a published outbox folder before upload")
    ver.add_argument("folder", help="OUTBOX/payments/DAY; with --all, the outbox or its payments folder")
    ver.add_argument("--all", action="store_true", help="verify every day folder not verified before; one table")
    ver.add_argument(
        "--state", help="where --all records verified days (default ~/.relief/verified.json; never in the outbox)"
    )

    srv = sub.add_parser(
        "sidecar-server",
        help="keep Great Expectations and matplotlib imported for the `relief run-day` processes that follow",
        description="Imports the sidecar's modules once, then forks a warm sidecar for each `relief` process of the"
        " same code that starts while it runs (a backfill of one process per day): none pays the imports again."
        " Runs in the foreground; stops after --idle seconds without a caller, or on Ctrl-C / SIGTERM.",
    )
    srv.add_argument("--idle", type=float, default=DEFAULT_IDLE_S, help="stop after this many seconds idle; 0: never")
    srv.add_argument("--ready-file", help="write the socket's path to this file once callers are accepted")

    gen = sub.add_parser("generate", parents=[common], help="write calibrated synthetic inbox files")
    gen_sub = gen.add_subparsers(dest="what", required=True)
    gc = gen_sub.add_parser("claims", parents=[common], help="the 19 daily claims files")
    gc.add_argument("--scale", type=float, default=1.0, help="1 reproduces PROGRAM.md's figures exactly")
    gc.add_argument("--seed", type=int, default=1015)
    gs = gen_sub.add_parser(
        "settlement", parents=[common], help="the council's decisions and the bank's results, from a published window"
    )
    gs.add_argument("--seed", type=int, default=1015)
    gu = gen_sub.add_parser("users", parents=[common], help="the KakaoTalk user directory")
    gu.add_argument("--users", type=int, default=100_000)
    gu.add_argument("--seed", type=int, default=1015)
    gu.add_argument("--format", choices=["csv", "parquet"], default="csv")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format=LOG_FORMAT,
        stream=sys.stderr,
    )
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    from etl.core.config import ConfigError, load_program
    from etl.core.errors import ReliefError
    from etl.core.settings import Settings

    try:
        program = load_program(getattr(args, "program", None))
        settings = Settings.resolve(
            getattr(args, "inbox", None), getattr(args, "outbox", None), getattr(args, "db", None)
        )
        return _dispatch(args, program, settings)
    except (ConfigError, ReliefError) as exc:
        print(f"relief: {exc}", file=sys.stderr)
        return 1


def _emit(result: object) -> int:
    print(json.dumps(result, ensure_ascii=False, default=str))
    return 0


def _warehouse(settings):
    from etl.io.warehouse import Warehouse

    return Warehouse(settings.db_url)


def _run_day(args, program, settings) -> int:
    from etl.daily import run_days

    last = args.to or args.day
    if last < args.day:
        raise SystemExit("relief: --to is before the day")
    # No way to skip the Great Expectations gate from the command line: it always runs.
    for result in run_days(settings, program, args.day, last, approve=args.approve or None):
        _emit(result)
    return 0


def _sidecar_server(args, program, settings) -> int:
    from etl.core.sidecar_server import ServerError, serve_forever
    from etl.daily import sidecar_preload

    try:
        served = serve_forever(sidecar_preload(), idle_s=args.idle, ready=args.ready_file)
    except ServerError as exc:
        print(f"relief: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return _emit({"sidecar_server": "stopped", "callers": served})


def _report(args, program, settings) -> int:
    from etl.reports.summary import print_report

    return print_report(_warehouse(settings), program, args.day, as_json=args.json)


def _rollout(args, program, settings) -> int:
    from etl.rollout import run_rollout

    return _emit(run_rollout(settings, program, args.day, shard_size=args.shard_size))


def _close(args, program, settings) -> int:
    from etl.reports.closing import close_program

    return _emit(close_program(_warehouse(settings), settings.outbox, program, args.day or program.close_date, args.by))


def _release(args, program, settings) -> int:
    from etl.payments.release import release_over_cap

    return _emit(release_over_cap(_warehouse(settings), args.key, args.amount, args.by, args.reason))


def _explain(args, program, settings) -> int:
    from etl.ledger.explain import explain

    text, known = explain(_warehouse(settings), args.key)
    print(text)
    return 0 if known else 1


def _verify(args, program, settings) -> int:
    from etl.payments.verify import verify_all, verify_folder

    db = getattr(args, "db", None)  # only an explicit --db: then the folder is checked against the warehouse
    return verify_all(args.folder, db_url=db, state=args.state) if args.all else verify_folder(args.folder, db_url=db)


def _generate(args, program, settings) -> int:
    if args.what == "claims":
        from etl.synth.claims import generate_claims

        return _emit(generate_claims(settings.inbox, program, scale=args.scale, seed=args.seed))
    if args.what == "settlement":
        from etl.synth.settlement import generate_settlement

        return _emit(generate_settlement(settings.inbox, settings.outbox, program, seed=args.seed))
    from etl.synth.users import generate_users

    return _emit(generate_users(settings.inbox, program, n_users=args.users, seed=args.seed, fmt=args.format))


COMMANDS = {
    "run-day": _run_day, "report": _report, "rollout": _rollout, "close": _close, "release": _release,
    "explain": _explain, "verify": _verify, "generate": _generate, "sidecar-server": _sidecar_server,
}  # fmt: skip


def _dispatch(args, program, settings) -> int:
    return COMMANDS[args.command](args, program, settings)


if __name__ == "__main__":
    sys.exit(main())
