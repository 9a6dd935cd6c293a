"""The `dutydesk` command line (DESIGN.md, "CLI"). Bad input: exit 2 and one line, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import NoReturn

from bot import version
from bot.settings import ConfigError, Settings, load_settings, settings_from_data

DEFAULT_CONFIG_FILE = "dutydesk.toml"
# the embedded default: a SQLite file here, the console, and one admin to try the team's side with `/as admin`
EMBEDDED = {
    "desk": {"name": "dutydesk", "ticket_prefix": "T"},
    "people": {"admin": {"name": "Admin", "roles": ["agent", "lead", "admin"]}},
    "channels": {"duty": ["#support-duty"]},
}


class UsageError(Exception):
    """Bad input on the command line; the message is the one line to print."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def config_path(given: str | None) -> str | None:
    """--config, else $DUTYDESK_CONFIG, else ./dutydesk.toml when it exists, else the embedded default."""
    if given:
        return given
    if os.environ.get("DUTYDESK_CONFIG"):
        return os.environ["DUTYDESK_CONFIG"]
    return DEFAULT_CONFIG_FILE if Path(DEFAULT_CONFIG_FILE).exists() else None


def settings_for(given: str | None) -> Settings:
    path = config_path(given)
    if path is None:
        return settings_from_data(EMBEDDED, "(embedded default)")
    return load_settings(path)


def build_parser() -> Parser:
    from bot.duty import cli as duty_cli
    from bot.infra import backup_cli
    from bot.reports import cli as report_cli
    from bot.sla import cli as sla_cli

    parser = Parser(prog="dutydesk", description="Support-desk bot for teams that work in chat.")
    parser.add_argument("--version", action="version", version=f"dutydesk {version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    run = sub.add_parser("run", help="run the bot on every configured platform (the console when none is)")
    run.add_argument("--config", help="the config file (default: $DUTYDESK_CONFIG or ./dutydesk.toml)")
    run.add_argument("--as", dest="user", default="you", help="who you are on the console (default: you)")

    sim = sub.add_parser("simulate", help="run a scripted scenario on a virtual clock and print the transcript")
    sim.add_argument("scenario", help="the scenario YAML file")
    sim.add_argument("--config", help="use this config instead of the scenario's")
    sim.add_argument("--db", help="database URL to use instead of a fresh temporary SQLite file")

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, parser_class=Parser)
    upgrade = db_sub.add_parser("upgrade", help="apply the schema migrations")
    upgrade.add_argument("--config")
    upgrade.add_argument("--db", help="database URL (default: [storage] url of the config)")

    check = sub.add_parser("check-config", help="load the config and report every problem")
    check.add_argument("--config")

    desk = sub.add_parser("check", help="check the config; with --online also everything a start needs")
    desk.add_argument("--config")
    desk.add_argument("--online", action="store_true",
                      help="also the database and every configured platform (reads only; exit 1 when one fails)")

    sla_cli.add_parser(sub)
    duty_cli.add_parsers(sub)
    backup_cli.add_parsers(sub)
    report_cli.add_parser(sub)
    return parser


async def _run(args: argparse.Namespace) -> int:
    """Composition: the runtimes the config asks for, served one way (bot.app.serve)."""
    from bot.app import serve
    from bot.core.clock import SystemClock
    from bot.core.ports import Runtime

    settings = settings_for(args.config)
    clock = SystemClock()
    runtimes: list[Runtime] = []
    try:
        if settings.matrix_enabled:
            from adapters.matrix.runtime import connect as connect_matrix

            runtimes.append(await connect_matrix(settings, clock))
        if settings.slack_enabled:
            from adapters.slack.runtime import connect as connect_slack

            runtimes.append(await connect_slack(settings, clock))
        if settings.mail_enabled:
            from adapters.mail.runtime import connect as connect_mail

            runtimes.append(await connect_mail(settings))
        if not runtimes:
            from adapters.console import ConsoleAdapter

            runtimes.append(ConsoleAdapter(clock, args.user, settings.desk.language))
    except BaseException:
        for runtime in runtimes:
            await runtime.close()
        raise
    return await serve(settings, clock, runtimes)  # until SIGTERM/SIGINT (the console: its last line)


async def _simulate(args: argparse.Namespace) -> int:
    from bot.simulate import simulate

    await simulate(Path(args.scenario), sys.stdout, config=args.config, db_url=args.db)
    return 0


async def _db_upgrade(args: argparse.Namespace) -> int:
    from storage import migrate
    from storage.db import make_engine

    url = args.db or settings_for(args.config).storage.url
    engine = make_engine(url)
    try:
        await migrate.upgrade(engine, progress=lambda line: print(line, flush=True))
        print(f"database is at schema revision {await migrate.current_revision(engine)}")
    finally:
        await engine.dispose()
    return 0


def _check(args: argparse.Namespace) -> int:
    settings = settings_for(args.config)
    print(f"{settings.source}: ok ({len(settings.people)} people, {len(settings.calendars)} calendars, "
          f"{len(settings.sla)} SLA policies)")
    for warning in settings.warnings():
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _check_desk(args: argparse.Namespace) -> int:
    """`dutydesk check [--online]`: the composition of every part's online checks (bot/infra/checks.py)."""
    from bot.infra import checks

    settings = settings_for(args.config)
    counts = {"people": len(settings.people), "calendars": len(settings.calendars), "SLA policies": len(settings.sla)}
    findings = [checks.passed("config", settings.source, ", ".join(f"{k}: {n}" for k, n in counts.items()))]
    if args.online:
        from adapters.mail.check import MailProbe
        from adapters.matrix.check import MatrixProbe
        from adapters.slack.check import SlackProbe

        probes: list[checks.Probe] = [checks.DatabaseProbe(), SlackProbe(), MatrixProbe(), MailProbe()]
        findings += asyncio.run(checks.run_probes(settings, probes))
    return checks.report(findings)


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        return asyncio.run(_run(args))
    if args.command == "simulate":
        return asyncio.run(_simulate(args))
    if args.command == "db":
        return asyncio.run(_db_upgrade(args))
    if args.command == "check-config":
        return _check(args)
    if args.command == "check":
        return _check_desk(args)
    if args.command in ("backup", "restore"):
        from bot.infra import backup_cli

        return backup_cli.run(args)
    if args.command == "report":
        from bot.reports import cli as report_cli

        return report_cli.run(args)
    if args.command in ("export-ical", "duty"):
        from bot.duty import cli as duty_cli

        return duty_cli.run(args)
    from bot.sla import cli as sla_cli

    return sla_cli.run(args)


def main(argv: list[str] | None = None) -> int:
    from sqlalchemy import exc as sa_exc

    from bot.app import StorageNotReady
    from bot.infra import logs
    from bot.infra.backup import BackupError
    from bot.infra.checks import describe
    from bot.simulate import ScenarioError
    from storage.migrate import SchemaAhead

    logs.configure()  # DUTYDESK_LOG_FORMAT=json|console, DUTYDESK_LOG_LEVEL
    try:
        args = build_parser().parse_args(argv)
        return dispatch(args)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except (ScenarioError, StorageNotReady, SchemaAhead, BackupError) as exc:
        print(f"dutydesk: {exc}", file=sys.stderr)
        return 2
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        # the database is away (or the URL names none): worth trying again later, unlike bad input
        print(f"dutydesk: cannot reach the database: {describe(exc)}; check [storage] url (or --db) and that the "
              "server runs", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # stdout was closed by the reader; keep Python from complaining again at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
