"""An APScheduler trigger that fires at instants computed from the duty window.

``every=None`` fires once at the start of each window (the handover); ``every=1h`` fires at the
window's start and then every hour while it runs, end exclusive (the Prio-1 digest). The
instants come from the duty calendar, so holidays have none and DST days keep their wall times.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger

from bot.duty.window import DutyWindow


class DutyWindowTrigger(BaseTrigger):
    def __init__(self, window: DutyWindow, every: timedelta | None = None) -> None:
        if every is not None and every <= timedelta(0):
            raise ValueError("a duty slot interval must be positive")
        self.window = window
        self.every = every

    def slots(self, start: datetime, end: datetime) -> list[datetime]:
        if self.every is None:
            return [start]
        found, slot = [], start
        while slot < end:
            found.append(slot)
            slot += self.every
        return found

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        after = now if previous_fire_time is None else max(now, previous_fire_time + timedelta(microseconds=1))
        for start, end in self.window.iter_windows(after):
            for slot in self.slots(start, end):
                if slot >= after:
                    return slot
        return None

    def __str__(self) -> str:
        return f"duty window {self.window.config.window}" + (f" every {self.every}" if self.every else "")
