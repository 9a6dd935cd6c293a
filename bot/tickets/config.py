"""``[limits]``: how many new tickets one requester may open (bot/tickets/limits.py).

```toml
[limits]
tickets = 10                     # new tickets per requester within `per`; 0: no limit (staff are never limited)
per = "1h"
```
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from bot.core.config import Section
from bot.sla.durations import WallDuration


class LimitsConfig(Section):
    """At most ``tickets`` new tickets per requester within ``per``; what they send beyond that is kept on their
    newest ticket, and they are told."""

    tickets: int = Field(default=10, ge=0)
    per: WallDuration = timedelta(hours=1)
