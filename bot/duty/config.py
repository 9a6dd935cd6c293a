"""``[duty]``: when duty runs, the rota, the Prio-1 digest and escalation, the handover.

```toml
[duty]
calendar = "office"              # duty days: working days of this calendar (default: [desk] calendar)
window = "mon-fri 16:00-18:00"   # when duty runs, wall time of that calendar's zone
roles = ["phone", "standby"]
rotation = "alternate-daily"     # or "weekly"
members = ["anna", "ben"]        # [people.*] keys
anchor = 2026-11-23              # on this date members[0] has roles[0]
coordinator = "carla"
digest = { every = "1h", priorities = [1], post_when_empty = true }
escalate = { repeat = "15m", coordinator = "30m", repage_after = "1h" }   # unacknowledged Prio-1 ping: repeat
                                 # after, coordinator after; raised again within repage_after, no new page
requester_p1 = "page"            # or "confirm": a requester's own Prio-1 is confirmed by the phone duty first
handover_ack = "30m"             # nobody took over duty within this: the coordinator is pinged
emergency_phone = "+49 30 555"   # what the answer outside duty and office hours tells a requester to call
mailbox = "anna"                 # who hands over phone and inbox watch at the start of duty
fallback = "team"                # an absent person's shift without a substitute: team | coordinator | none
```

Durations are wall-clock time (:data:`bot.sla.durations.WallDuration`; ``"1d"`` is 24 hours).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from pydantic import Field, field_validator

from bot.calendar.hours import parse_weekly_hours
from bot.core.config import CalendarName, PersonKey, PersonKeys, Section
from bot.sla.durations import WallDuration


class DigestConfig(Section):
    """The Prio-1 digest: at the window's start and then every ``every`` while it runs (end exclusive)."""

    every: WallDuration = timedelta(hours=1)
    priorities: list[Literal[1, 2, 3]] = Field(default_factory=lambda: list[Literal[1, 2, 3]]([1]))
    post_when_empty: bool = True


class EscalateConfig(Section):
    """An unacknowledged Prio-1 ping is repeated after ``repeat``; the coordinator is pinged after ``coordinator``."""

    repeat: WallDuration = timedelta(minutes=15)
    coordinator: WallDuration = timedelta(minutes=30)
    # a ticket raised to Prio-1 again within this time of its last page pages nobody anew (a priority toggled
    # up and down must not page the standby again and again); the escalation of that page goes on
    repage_after: WallDuration = timedelta(hours=1)


class DutyConfig(Section):
    calendar: CalendarName | None = None
    window: str = "mon-fri 16:00-18:00"
    roles: list[str] = Field(default_factory=lambda: ["phone", "standby"])
    rotation: Literal["alternate-daily", "weekly"] = "alternate-daily"
    members: PersonKeys = Field(default_factory=list)
    anchor: date | None = None
    coordinator: PersonKey | None = None
    digest: DigestConfig = Field(default_factory=DigestConfig)
    escalate: EscalateConfig = Field(default_factory=EscalateConfig)
    handover_ack: WallDuration = timedelta(minutes=30)
    # what the automatic answer outside duty and office hours tells a requester to call in an emergency
    emergency_phone: str | None = None
    # the mailbox owner who hands over phone and inbox watch at the start of duty (a people key)
    mailbox: PersonKey | None = None
    # who covers an absent person's shift without a substitute: team | coordinator | none (see bot/duty/resolve.py)
    fallback: Literal["team", "coordinator", "none"] = "team"
    # a Prio-1 that a requester chose (``-p1``, urgency SHOW-STOPPER): "page" pages the standby at once;
    # "confirm" asks the phone duty first, and the standby is paged when the phone duty confirms it
    requester_p1: Literal["page", "confirm"] = "page"

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_weekly_hours([value])
        return value
