"""A report as text in the reader's language, and as CSV (``dutydesk report --format csv``).

Numbers, dates and plural forms come from Babel (CLDR) for the reader's language; the sentences from the
message catalogues (``report.*``). No ticket title appears: ``/report`` may be asked in any channel.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

from babel.dates import format_date
from babel.numbers import format_decimal

from bot.i18n import t
from bot.i18n.format import instant, locale
from bot.reports.figures import PRIORITIES, SATISFACTION, Report


def number(lang: str, value: float) -> str:
    return format_decimal(value, format="#,##0.#", locale=locale(lang))


def plural(lang: str, key: str, count: int) -> str:
    """``report.opened`` with ``count``, in the language's plural form (CLDR: one, few, many, other)."""
    return t(lang, key, count=count)


def day(lang: str, value: date) -> str:
    return format_date(value, format="medium", locale=locale(lang))


def when(lang: str, value: datetime, zone: str) -> str:
    return instant(lang, value, zone)


def minutes(lang: str, value: float | None) -> str:
    """Business minutes as ``35 min`` or ``5 h 20 min`` (Babel's units would write "5 hours, 20 minutes")."""
    if value is None:
        return t(lang, "report.none")
    whole = round(value)
    hours, mins = divmod(whole, 60)
    if not hours:
        return t(lang, "report.minutes", m=number(lang, mins))
    return t(lang, "report.hours_minutes", h=number(lang, hours), m=number(lang, mins))


def render(report: Report, lang: str, zone: str | None = None) -> str:
    """The summary a lead reads in chat (and ``dutydesk report`` prints)."""
    zone = zone or report.zone.key
    period = t(lang, "report.period", first=day(lang, report.first), last=day(lang, report.last))
    if report.empty:
        return t(lang, "report.empty", period=period)
    lines = [t(lang, "report.head", period=period)]
    lines.append(t(lang, "report.counts", opened=plural(lang, "report.opened", report.opened),
                   closed=plural(lang, "report.closed", report.closed),
                   open=plural(lang, "report.open_at_end", report.open_at_end)))
    if report.opened:
        prios = " · ".join(f"P{p} {number(lang, report.by_priority.get(p, 0))}" for p in PRIORITIES)
        topics = " · ".join(f"{t(lang, 'report.no_topic') if name == '-' else name} {number(lang, n)}"
                            for name, n in report.by_topic.items())
        lines.append(t(lang, "report.by_priority", priorities=prios))
        lines.append(t(lang, "report.by_topic", topics=topics))
    for name, counts in report.sla.items():
        parts = [t(lang, f"report.sla_{state}", n=number(lang, counts[state]))
                 for state in ("met", "breached", "running", "stopped") if counts[state] or state != "stopped"]
        lines.append(t(lang, "report.sla", target=name, counts=", ".join(parts)))
    lines.append(t(lang, "report.first_response", median=minutes(lang, report.first_response_median),
                   p90=minutes(lang, report.first_response_p90)))
    lines.append(t(lang, "report.satisfaction", **{
        name: number(lang, report.satisfaction.get(name, 0)) for name in SATISFACTION}))
    if report.oldest_open:
        lines.append(t(lang, "report.oldest"))
        for line in report.oldest_open:
            lines.append(t(lang, "report.oldest_line", key=line.key, priority=line.priority,
                           state=t(lang, f"state.{line.state}"), since=when(lang, line.opened, zone),
                           assignee=line.assignee or t(lang, "ticket.nobody")))
    if report.load:
        lines.append(t(lang, "report.load"))
        for load in report.load:
            lines.append(t(lang, "report.load_line", who=load.assignee or t(lang, "ticket.nobody"),
                           open=plural(lang, "report.open_at_end", load.open),
                           closed=plural(lang, "report.closed", load.closed)))
    return "\n".join(lines)


def as_csv(report: Report) -> str:
    """One row per ticket opened in the range (DESIGN.md): instants in ISO 8601 in the desk calendar's zone."""
    targets = list(report.sla)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["id", "opened", "priority", "topic", "state", "assignee", "first_response",
              "first_response_minutes", "resolved"]
    for name in targets:
        header += [f"{name}_due", name]
    writer.writerow([*header, "satisfaction"])

    def iso(value: datetime | None) -> str:
        return value.astimezone(report.zone).isoformat() if value is not None else ""

    for line in report.tickets:
        row: list[object] = [line.key, iso(line.opened), line.priority, line.topic or "", line.state,
                             line.assignee or "", iso(line.first_response),
                             "" if line.first_response_minutes is None else round(line.first_response_minutes, 1),
                             iso(line.resolved)]
        for name in targets:
            due, verdict = line.sla.get(name, (None, ""))
            row += [iso(due), verdict]
        writer.writerow([*row, line.satisfaction or ""])
    return out.getvalue()


def last_week(today: date) -> tuple[date, date]:
    monday = today - timedelta(days=today.weekday())
    return monday - timedelta(days=7), monday - timedelta(days=1)
