"""The ``[reports]`` section of ``dutydesk.toml``.

```toml
[reports]
weekly = { channel = "#support-leads", at = "mon 09:00" }   # last week's report and its chart to this channel
# DUTYDESK_REPORTS__CALENDAR_TOKEN (environment only): the secret of the duty calendar feeds on the ops listener,
# /calendar/ROLE.ics?token=… and /calendar/people/KEY.ics?token=…; without it no feed is served
```
"""

from __future__ import annotations

import re

from pydantic import SecretStr, field_validator

from bot.core.config import Section

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class WeeklyReport(Section):
    channel: str
    at: str = "mon 09:00"

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        match = re.fullmatch(r"(mon|tue|wed|thu|fri|sat|sun) ([01]\d|2[0-3]):([0-5]\d)", value.strip().lower())
        if match is None:
            raise ValueError(f'"{value}" is no weekday and time; write e.g. at = "mon 09:00"')
        return match.group(0)

    def weekday_and_time(self) -> tuple[int, int, int]:
        day, clock = self.at.split(" ")
        hour, minute = clock.split(":")
        return DAYS.index(day), int(hour), int(minute)


class ReportsConfig(Section):
    weekly: WeeklyReport | None = None
    calendar_token: SecretStr | None = None

    @field_validator("calendar_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("the calendar token is part of every feed's address: use at least 16 random "
                             "characters, e.g. from `openssl rand -hex 16`")
        return value
