"""`/duty …`: who has which duty role, swaps, vacations, sick reports and the weekly plan."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, field_validator

from bot.calendar.walltime import FIRST_YEAR, LAST_YEAR
from bot.core.context import Context
from bot.core.errors import BadValue, Refused
from bot.core.registry import Arg, Command, Registry
from bot.core.types import Reply
from bot.duty import service
from bot.duty.model import Assignment
from bot.duty.notify import day_text, for_reader, hours_text, name_of, role_name
from bot.duty.store import DutyState, load_state, today, week_of, window_of
from bot.i18n.format import clock, listing, typed_day, zone_name
from commands.ticket import NoArgs


def _person(value: str | None) -> str | None:
    return value.removeprefix("@") if value else value


class SwapArgs(BaseModel):
    day: str
    person: str | None = None
    role: str | None = None

    _p = field_validator("person")(classmethod(lambda cls, v: _person(v)))


class IdArgs(BaseModel):
    id: int

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: object) -> int:
        text = str(value).strip().removeprefix("#")
        if not text.isdigit():
            raise BadValue("args.request", value=str(value)[:40])
        return int(text)


class AwayArgs(BaseModel):
    first: str
    last: str
    substitute: str | None = None

    _p = field_validator("substitute")(classmethod(lambda cls, v: _person(v)))


def parse_day(text: str, now_day: date) -> date:
    """``2026-11-25``, ``25.11.``, ``today``/``morgen``/``завтра`` or a weekday (``wed``, ``Mi``, ``ср``: the next
    one, today included), in any of the desk's languages."""
    day = typed_day(text, now_day)
    if day is None:
        raise Refused("duty.bad_date", text=text[:40])
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise Refused("duty.bad_date", text=text)  # 9999-12-31 is a date, but no day of a rota
    return day


def _zone(ctx: Context) -> ZoneInfo:
    return ZoneInfo(ctx.actor.timezone)


def _holder(ctx: Context, a: Assignment) -> str:
    lang = ctx.actor.language
    name = name_of(ctx.desk, a.person, lang)
    if a.person is None:
        return ctx.t("duty.uncovered")
    if a.absent is not None and a.planned and a.person != a.planned:
        return ctx.t("duty.mark_away", name=name, other=name_of(ctx.desk, a.planned, lang))
    if a.override is not None and a.override.replaced and a.override.replaced != a.person:
        return ctx.t("duty.mark_for", name=name, other=name_of(ctx.desk, a.override.replaced, lang))
    return name


def _roles_line(ctx: Context, state: DutyState, day: date) -> str:
    lang = ctx.actor.language
    return " · ".join(f"{role_name(lang, role)} {_holder(ctx, a)}" for role, a in state.assignments(day).items())


async def show(ctx: Context, _args: NoArgs) -> list[Reply]:
    window = window_of(ctx.desk)
    if window is None:
        raise Refused("duty.not_configured")
    lang, zone, now = ctx.actor.language, _zone(ctx), ctx.now
    day = today(ctx.desk, window)
    monday, sunday = week_of(day)
    upcoming = window.current_or_next(now)
    last = max(sunday, window.local_date(upcoming[0])) if upcoming else sunday
    state = await load_state(ctx.session, ctx.desk, monday, last)
    assert state is not None
    lines = []
    running = window.window_at(now)
    if running is not None:
        lines.append(ctx.t("duty.now", until=clock(lang, running[1], zone),
                           roles=_roles_line(ctx, state, window.local_date(running[0]))))
    elif upcoming is not None:
        next_day = window.local_date(upcoming[0])
        lines.append(ctx.t("duty.now_none", day=day_text(lang, next_day),
                           hours=hours_text(window.windows_on(next_day), zone, lang),
                           roles=_roles_line(ctx, state, next_day)))
    else:
        lines.append(ctx.t("duty.never"))
    lines.append(ctx.t("duty.week_head", week=day_text(lang, monday), zone=zone_name(lang, ctx.actor.timezone)))
    for offset in range(7):
        d = monday + timedelta(days=offset)
        if not window.weekly[d.weekday()]:
            continue
        mark = ctx.t("duty.today_mark") if d == day else ""
        if window.is_duty_day(d):
            lines.append(ctx.t("duty.week_line", day=day_text(lang, d),
                               hours=hours_text(window.windows_on(d), zone, lang),
                               roles=_roles_line(ctx, state, d)) + mark)
        else:
            lines.append(ctx.t("duty.week_off", day=day_text(lang, d)) + mark)
    return [Reply(text="\n".join(lines))]


async def swap(ctx: Context, args: SwapArgs) -> list[Reply]:
    window = window_of(ctx.desk)
    if window is None:
        raise Refused("duty.not_configured")
    day = parse_day(args.day, today(ctx.desk, window))
    request = await service.request_swap(ctx.session, ctx.desk, ctx.actor.person.key, day, role=args.role,
                                         colleague=args.person)
    lang = ctx.actor.language
    values = dict(id=request.id, role=role_name(lang, request.role), day=day_text(lang, request.day))
    if request.colleague is None:
        return [Reply(text=ctx.t("duty.swap_sent_all", **values))]
    return [Reply(text=ctx.t("duty.swap_sent", person=name_of(ctx.desk, request.colleague), **values))]


async def accept(ctx: Context, args: IdArgs) -> list[Reply]:
    done = await service.accept(ctx.session, ctx.desk, ctx.actor.person.key, args.id)
    lang = ctx.actor.language
    request = done.swap
    values = dict(id=request.id, role=role_name(lang, request.role), day=day_text(lang, request.day),
                  hours=for_reader(ctx.desk, ctx.actor.person.key, lang, done.hours),
                  requester=name_of(ctx.desk, request.requester))
    if done.exchanged is not None:
        return [Reply(text=ctx.t("duty.accepted_exchange", other=role_name(lang, done.exchanged), **values))]
    return [Reply(text=ctx.t("duty.accepted", **values))]


async def decline(ctx: Context, args: IdArgs) -> list[Reply]:
    request = await service.decline(ctx.session, ctx.desk, ctx.actor.person.key, args.id)
    return [Reply(text=ctx.t("duty.declined", id=request.id, requester=name_of(ctx.desk, request.requester)))]


def _shifts(lang: str, shifts: list[tuple[date, str]]) -> str:
    return ", ".join(f"{day_text(lang, d)} {role_name(lang, r)}" for d, r in shifts)


def _when(ctx: Context, value: datetime) -> str:
    return ctx.when(value)


async def away(ctx: Context, args: AwayArgs) -> list[Reply]:
    window = window_of(ctx.desk)
    if window is None:
        raise Refused("duty.not_configured")
    now_day = today(ctx.desk, window)
    first, last = parse_day(args.first, now_day), parse_day(args.last, now_day)
    done = await service.go_away(ctx.session, ctx.desk, ctx.actor.person.key, first, last, args.substitute)
    lang = ctx.actor.language
    values = dict(first=day_text(lang, first), last=day_text(lang, last), count=len(done.shifts),
                  shifts=_shifts(lang, done.shifts))
    if not done.shifts:
        return [Reply(text=ctx.t("duty.away_ok_none", **values))]
    if done.absence.substitute:
        lines = [ctx.t("duty.away_ok_substitute", person=name_of(ctx.desk, done.absence.substitute), **values)]
    else:
        lines = [ctx.t("duty.away_ok_remind", prefix=ctx.prefix, **values)]
        if done.reminders:
            when = listing(lang, [_when(ctx, r) for r in done.reminders])
            lines.append(ctx.t("duty.away_reminders", reminders=when))
    lines += _coordinator_lines(ctx, done.coordinator_told, done.coordinator_at)
    return [Reply(text=" ".join(lines))]


def _coordinator_lines(ctx: Context, told: str | None, later: datetime | None = None) -> list[str]:
    """What the coordinator hears of an absence: only what was done (or is set up to be)."""
    if told is not None:
        return [ctx.t("duty.coordinator_told", coordinator=name_of(ctx.desk, told, ctx.actor.language))]
    coordinator = service.coordinator_of(ctx.desk, ctx.actor.person.key)
    if later is None or coordinator is None:
        return []
    who = name_of(ctx.desk, coordinator, ctx.actor.language)
    if later <= ctx.now:
        return [ctx.t("duty.away_coordinator_now", coordinator=who)]
    return [ctx.t("duty.away_coordinator_later", coordinator=who, when=_when(ctx, later))]


async def sick(ctx: Context, _args: NoArgs) -> list[Reply]:
    done = await service.report_sick(ctx.session, ctx.desk, ctx.actor.person.key)
    lang = ctx.actor.language
    day = day_text(lang, done.absence.first_day)
    told = _coordinator_lines(ctx, done.coordinator_told)
    if not done.requests:
        return [Reply(text=" ".join([ctx.t("duty.sick_ok_none", day=day), *told]))]
    roles = ", ".join(role_name(lang, r.role) for r in done.requests)
    meanwhile = ", ".join(f"{role_name(lang, role)} {name_of(ctx.desk, person, lang)}"
                          for role, person in done.fallback.items())
    values = dict(day=day, roles=roles, meanwhile=meanwhile, ids=", ".join(f"#{r.id}" for r in done.requests))
    if done.asked:
        text = ctx.t("duty.sick_ok_cover", asked=", ".join(name_of(ctx.desk, key) for key in done.asked), **values)
    else:
        text = ctx.t("duty.sick_ok_cover_channel", **values)
    return [Reply(text=" ".join([text, *told]))]


async def plan(ctx: Context, _args: NoArgs) -> list[Reply]:
    proposal = await service.propose_plan(ctx.session, ctx.desk, ctx.actor.person.key)
    lang = ctx.actor.language
    served = " · ".join(f"{name_of(ctx.desk, p)} {n}" for p, n in sorted(proposal.served.items())) \
        or ctx.t("duty.plan_no_ledger")
    lines = [ctx.t("duty.plan_head", week=day_text(lang, proposal.week), count=service.FAIR_WEEKS, served=served)]
    by_day: dict[date, list[str]] = {}
    for day, role, person in proposal.rows:
        who = name_of(ctx.desk, person, lang) if person else ctx.t("duty.uncovered")
        by_day.setdefault(day, []).append(f"{role_name(lang, role)} {who}")
    if not by_day:
        lines.append(ctx.t("duty.plan_empty"))
        return [Reply(text="\n".join(lines))]
    for day, parts in sorted(by_day.items()):
        lines.append(f"{day_text(lang, day)}: {' · '.join(parts)}")
    lines.append(ctx.t("duty.plan_hint", prefix=ctx.prefix))
    return [Reply(text="\n".join(lines))]


async def plan_confirm(ctx: Context, _args: NoArgs) -> list[Reply]:
    rows = await service.confirm_plan(ctx.session, ctx.desk, ctx.actor.person.key)
    return [Reply(text=ctx.t("duty.plan_confirmed", week=day_text(ctx.actor.language, rows[0].week),
                             count=len(rows)))]


def register(registry: Registry) -> None:
    request_id = Arg("id", "positional", metavar="ID")
    registry.add(Command(("duty",), NoArgs, show, "duty.help_show", permission="staff"))
    registry.add(Command(("duty", "swap"), SwapArgs, swap, "duty.help_swap",
                         (Arg("day", "positional", metavar="DATE"),
                          Arg("person", "positional", metavar="@PERSON", required=False),
                          Arg("role", "option", ("-r", "--role"), "ROLE", required=False)), permission="staff"))
    registry.add(Command(("duty", "accept"), IdArgs, accept, "duty.help_accept", (request_id,), permission="staff"))
    registry.add(Command(("duty", "decline"), IdArgs, decline, "duty.help_decline", (request_id,),
                         permission="staff"))
    registry.add(Command(("duty", "away"), AwayArgs, away, "duty.help_away",
                         (Arg("first", "positional", metavar="FROM"), Arg("last", "positional", metavar="TO"),
                          Arg("substitute", "positional", metavar="@SUBSTITUTE", required=False)),
                         permission="staff"))
    registry.add(Command(("duty", "sick"), NoArgs, sick, "duty.help_sick", permission="staff"))
    registry.add(Command(("duty", "plan"), NoArgs, plan, "duty.help_plan", permission="staff"))
    registry.add(Command(("duty", "plan", "confirm"), NoArgs, plan_confirm, "duty.help_plan_confirm",
                         permission="staff"))
