"""The ``[calendars.NAME]`` section of ``dutydesk.toml`` (see DESIGN.md, Configuration)."""

from __future__ import annotations

from datetime import date

from pydantic import Field, field_validator, model_validator

from bot.calendar.holiday_source import parse_holiday_spec
from bot.calendar.hours import parse_ranges, parse_weekly_hours
from bot.core.config import Section, TimeZoneName


class CalendarConfig(Section):
    """A business calendar: zone, weekly hours, public holidays and per-date exceptions."""

    timezone: TimeZoneName
    hours: list[str]
    holidays: str | None = None
    closed: list[date] = Field(default_factory=list)
    open: dict[date, str] = Field(default_factory=dict)

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: list[str]) -> list[str]:
        parse_weekly_hours(value)
        return value

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: str | None) -> str | None:
        if value is None:
            return None
        country, subdiv = parse_holiday_spec(value)
        return f"{country}-{subdiv}" if subdiv else country

    @field_validator("open")
    @classmethod
    def _open(cls, value: dict[date, str]) -> dict[date, str]:
        for day, text in value.items():
            try:
                parse_ranges(text)
            except ValueError as exc:
                raise ValueError(f"open {day.isoformat()}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _closed_and_open(self) -> CalendarConfig:
        both = sorted(set(self.closed) & set(self.open))
        if both:
            days = ", ".join(d.isoformat() for d in both)
            raise ValueError(f"{days} listed both in closed and in open; keep each date in one of them")
        return self
