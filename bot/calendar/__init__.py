"""Business calendars: opening hours on a zone's wall clock, holidays, closed and extra dates."""

from bot.calendar.business import BusinessCalendar, CalendarError, Interval, build_calendars
from bot.calendar.config import CalendarConfig
from bot.calendar.holiday_source import HolidaySource, parse_holiday_spec
from bot.calendar.walltime import WallTimeError, parse_instant, resolve_wall_time

__all__ = [
    "BusinessCalendar",
    "CalendarConfig",
    "CalendarError",
    "HolidaySource",
    "Interval",
    "WallTimeError",
    "build_calendars",
    "parse_holiday_spec",
    "parse_instant",
    "resolve_wall_time",
]
