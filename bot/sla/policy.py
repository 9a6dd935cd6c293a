"""SLA policies: named targets on a business calendar, and the deadline rules of sla-examples.md.

- The clock starts at the first business instant at or after the report.
- A target with a cut-off (P1 "within 4 h if reported by 12:00"): a report at or before the
  cut-off on a working day, on the calendar's wall clock, starts the clock then; a later one, or
  one on a day off, starts it at the next working day's opening.
- ``working_day = "hours"``: N d is N working days of business time, each day with its own hours
  (see ``BusinessCalendar.add_working_days``); ``"closing"``: the report day is not counted and the
  target is the closing time of the N-th working day after it. Hours and minutes are plain
  business time in both.
- Every target becomes a business-time budget at the clock start; pauses then move the deadline
  by the business time they cover, whichever reading of a working day is used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal

from bot.calendar.business import BusinessCalendar
from bot.calendar.hours import parse_clock_time
from bot.calendar.walltime import ensure_aware
from bot.sla.clock import Pause, SlaClock
from bot.sla.config import SlaPolicyConfig, SlaTargetConfig
from bot.sla.durations import Duration, parse_duration

WorkingDay = Literal["hours", "closing"]
PauseLike = Pause | tuple[datetime, datetime | None]
_US = timedelta(microseconds=1)


class SlaError(ValueError):
    """A policy or target that does not exist or does not fit together."""


class UnknownTargetError(SlaError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class SlaTarget:
    name: str
    within: Duration
    cutoff: time | None = None

    @classmethod
    def from_config(cls, name: str, cfg: SlaTargetConfig) -> SlaTarget:
        cutoff = None
        if cfg.cutoff is not None:
            minutes = parse_clock_time(cfg.cutoff)
            cutoff = time(minutes // 60, minutes % 60)
        return cls(name, parse_duration(cfg.within), cutoff)


@dataclass(frozen=True)
class Deadline:
    """When the clock started and when the target is breached, both in the calendar's zone."""

    start: datetime
    due: datetime


def _pause(item: PauseLike) -> Pause:
    return item if isinstance(item, Pause) else Pause(item[0], item[1])


@dataclass(frozen=True)
class SlaPolicy:
    name: str
    calendar: BusinessCalendar
    working_day: WorkingDay
    targets: Mapping[str, SlaTarget]

    @classmethod
    def from_config(cls, name: str, cfg: SlaPolicyConfig, calendars: Mapping[str, BusinessCalendar]) -> SlaPolicy:
        calendar = calendars.get(cfg.calendar)
        if calendar is None:
            known = ", ".join(sorted(calendars)) or "none"
            raise SlaError(f"sla policy {name!r}: unknown calendar {cfg.calendar!r} (calendars: {known})")
        targets = {key: SlaTarget.from_config(key, target) for key, target in cfg.targets.items()}
        return cls(name, calendar, cfg.working_day, targets)

    def target(self, name: str) -> SlaTarget:
        try:
            return self.targets[name]
        except KeyError:
            known = ", ".join(self.targets) or "none"
            raise UnknownTargetError(f"sla policy {self.name!r} has no target {name!r} (targets: {known})") from None

    def _resolve(self, target: str | SlaTarget | Duration) -> SlaTarget:
        if isinstance(target, SlaTarget):
            return target
        if isinstance(target, Duration):
            return SlaTarget(str(target), target)
        return self.target(target)

    def clock_start(self, reported_at: datetime, cutoff: time | None = None) -> datetime:
        """When the clock starts for a report, with the cut-off rule of the target (if any)."""
        return self._start(reported_at, cutoff)[0]

    def _start(self, reported_at: datetime, cutoff: time | None) -> tuple[datetime, bool]:
        """(clock start, whether the cut-off deferred the report to the next working day)."""
        cal = self.calendar
        ensure_aware(reported_at, "reported_at")
        if cutoff is None:
            return cal.next_opening(reported_at), False
        local = reported_at.astimezone(cal.zone)
        day = local.date()
        # Wall clock of the calendar's zone: 12:00 Berlin is 11:00 UTC in winter, 10:00 in summer.
        if cal.is_working_day(day) and local.time() <= cutoff:
            return cal.next_opening(reported_at), False
        opening = cal.opening(cal.next_working_day(day))
        assert opening is not None  # a working day has an opening
        return opening, True

    def _start_and_budget_us(self, target: SlaTarget, reported_at: datetime) -> tuple[int, int]:
        """Clock start and business-time budget of a report, in the calendar's microseconds.

        Every target becomes a budget at the clock start: a working-day target is the business
        time from the start to the instant its days are used up.
        """
        cal = self.calendar
        if target.cutoff is None:
            reported = cal.to_us(reported_at, "reported_at")
            start, received = cal.next_opening_us(reported), reported_at
        else:
            opening, deferred = self._start(reported_at, target.cutoff)
            start = cal.to_us(opening)
            # A report the cut-off deferred counts as received at the clock start ("closing" counts days
            # after the day of receipt); otherwise the report day is the day of receipt.
            received = opening if deferred else reported_at
        within = target.within
        if not within.is_days:
            return start, within.business_time // _US
        if self.working_day == "hours":
            due = cal.add_working_days_us(start, within.working_days)
        else:
            due = cal.to_us(cal.add_working_days_closing(received, within.working_days))
        return start, cal.business_time_between_us(start, due)

    def clock(
        self,
        target: str | SlaTarget | Duration,
        reported_at: datetime,
        pauses: Iterable[PauseLike] = (),
    ) -> SlaClock:
        """The clock of ``target`` (a target name, or a Duration for an ad-hoc ``within``)."""
        start, budget = self._start_and_budget_us(self._resolve(target), reported_at)
        cal = self.calendar
        return SlaClock(cal, cal.from_us(start), budget * _US, tuple(_pause(p) for p in pauses))

    def deadline(
        self,
        target: str | SlaTarget | Duration,
        reported_at: datetime,
        pauses: Iterable[PauseLike] = (),
    ) -> Deadline:
        """Start and due instant; every pause must have ended (an open pause has no due yet)."""
        pauses = tuple(pauses)
        if not pauses:
            # Without pauses the due instant is the budget added to the start: no clock to build.
            start, budget = self._start_and_budget_us(self._resolve(target), reported_at)
            cal = self.calendar
            return Deadline(cal.from_us(start), cal.from_us(cal.add_business_time_us(start, budget)))
        clock = self.clock(target, reported_at, pauses)
        due = clock.due
        if due is None:
            raise SlaError("a pause is still open, so the clock has no due instant yet")
        zone = self.calendar.zone
        return Deadline(clock.start.astimezone(zone), due.astimezone(zone))


def build_policies(
    configs: Mapping[str, SlaPolicyConfig], calendars: Mapping[str, BusinessCalendar]
) -> dict[str, SlaPolicy]:
    return {name: SlaPolicy.from_config(name, cfg, calendars) for name, cfg in configs.items()}
