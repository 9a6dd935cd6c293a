"""``dutydesk sla deadline``: the due instant of an SLA target for a report (DESIGN.md, CLI contract).

The main CLI (``bot.cli``) registers this with :func:`add_parser` and calls :func:`run`; running
``python -m bot.sla.cli sla deadline …`` does the same on a parser of its own.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from bot.calendar.business import BusinessCalendar
from bot.calendar.walltime import parse_instant
from bot.sla.clock import Pause
from bot.sla.durations import Duration, parse_duration
from bot.sla.policy import SlaPolicy, SlaTarget

EXIT_BAD_INPUT = 2


class BadInput(Exception):
    """One line for stderr that says what is wrong with the input."""


def _one_line_error(parser: argparse.ArgumentParser) -> None:
    # argparse prints the whole usage block before its message; the contract is one line on stderr.
    # A parser class that already handles errors its own way (the main CLI's) is left alone.
    if type(parser).error is not argparse.ArgumentParser.error:
        return

    def error(message: str) -> NoReturn:
        parser.exit(EXIT_BAD_INPUT, f"{parser.prog}: error: {message}\n")

    parser.error = error  # type: ignore[method-assign]


def add_parser(subparsers: Any) -> None:
    """Register ``sla deadline`` on an ``argparse`` subparsers object."""
    sla = subparsers.add_parser("sla", help="SLA tools", description="SLA tools.")
    _one_line_error(sla)
    commands = sla.add_subparsers(dest="sla_command", metavar="COMMAND", required=True)
    deadline = commands.add_parser(
        "deadline",
        help="print the due instant of an SLA target",
        description=(
            "Print when an SLA target is due for a report, as ISO 8601 in the policy calendar's zone. "
            "Instants without an offset are wall time in that zone."
        ),
    )
    _one_line_error(deadline)
    deadline.add_argument("--config", required=True, metavar="FILE", help="dutydesk.toml")
    deadline.add_argument("--policy", required=True, metavar="NAME", help="an [sla.NAME] policy")
    which = deadline.add_mutually_exclusive_group(required=True)
    which.add_argument("--target", metavar="NAME", help="a target of the policy, e.g. P1")
    which.add_argument("--within", metavar="DURATION", help='an ad-hoc target: "30m", "4h", "2d"')
    deadline.add_argument("--at", required=True, metavar="INSTANT", help="when the report came in")
    deadline.add_argument(
        "--pause",
        action="append",
        default=[],
        metavar="START/END",
        help="a pause of the clock (repeatable), e.g. 2026-11-23T14:00/2026-11-24T11:00",
    )
    deadline.add_argument("--json", action="store_true", help="print start, due and due_utc as JSON")
    deadline.set_defaults(handler=run)


def _load_policy(config: str, name: str) -> SlaPolicy:
    # Imported here: settings pull in every section's models, which the parser does not need.
    from bot.settings import ConfigError, load_settings

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise BadInput("; ".join(exc.problems) or str(exc)) from None
    policy_cfg = settings.sla.get(name)
    if policy_cfg is None:
        known = ", ".join(sorted(settings.sla)) or "none defined"
        raise BadInput(f"--policy: unknown SLA policy {name!r} in {config} (policies: {known})")
    calendar_cfg = settings.calendars[policy_cfg.calendar]  # load_settings checked the reference
    calendar = BusinessCalendar.from_config(policy_cfg.calendar, calendar_cfg)
    return SlaPolicy.from_config(name, policy_cfg, {policy_cfg.calendar: calendar})


def _instant(text: str, zone: ZoneInfo, option: str) -> datetime:
    try:
        return parse_instant(text, zone)
    except ValueError as exc:
        raise BadInput(f"{option}: {exc}") from None


def _pause(text: str, zone: ZoneInfo) -> Pause:
    start_text, sep, end_text = text.partition("/")
    if not sep or not start_text or not end_text or "/" in end_text:
        raise BadInput(f"--pause {text!r}: write START/END, e.g. 2026-11-23T14:00/2026-11-24T11:00")
    start = _instant(start_text, zone, "--pause")
    end = _instant(end_text, zone, "--pause")
    if end.astimezone(UTC) < start.astimezone(UTC):  # same-zone datetimes compare by wall clock
        raise BadInput(f"--pause {text!r}: the pause ends before it starts")
    return Pause(start, end)


def _utc(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def deadline_output(args: argparse.Namespace) -> str:
    """What ``sla deadline`` prints; raises :class:`BadInput` for anything wrong in the input."""
    policy = _load_policy(args.config, args.policy)
    zone = policy.calendar.zone
    target: SlaTarget | Duration
    if args.target is not None:
        try:
            target = policy.target(args.target)
        except KeyError as exc:
            raise BadInput(f"--target: {exc}") from None
    else:
        try:
            target = parse_duration(args.within)
        except ValueError as exc:
            raise BadInput(f"--within: {exc}") from None
    reported_at = _instant(args.at, zone, "--at")
    pauses = [_pause(text, zone) for text in args.pause]
    try:
        deadline = policy.deadline(target, reported_at, pauses)
    except ValueError as exc:  # e.g. a calendar without working time in its horizon
        raise BadInput(str(exc)) from None
    if args.json:
        return json.dumps(
            {
                "start": deadline.start.isoformat(),
                "due": deadline.due.isoformat(),
                "due_utc": _utc(deadline.due),
            }
        )
    return deadline.due.isoformat()


def run(args: argparse.Namespace) -> int:
    """Run ``sla deadline`` for parsed arguments; returns the exit status."""
    try:
        print(deadline_output(args))
    except BadInput as exc:
        message = " ".join(str(exc).split())  # one line, whatever the message held
        print(f"dutydesk sla deadline: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dutydesk", description="dutydesk SLA tools")
    _one_line_error(parser)
    add_parser(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
