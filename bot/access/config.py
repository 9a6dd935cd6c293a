"""``[people.KEY]`` (the team, and what the bot knows of them) and ``[access]`` (desk roles from platform groups).

```toml
[people.anna]
name = "Anna"
slack = "U0ANNA"
matrix = "@anna:example.org"
timezone = "Europe/Berlin"
roles = ["agent", "lead"]        # agent | lead | coordinator | admin (default ["agent"])
phone = "+49 30 1234567"         # shown to the phone duty in a Prio-1 ping and in /duty

[access]                          # desk roles from platform groups, on top of [people.*] roles
slack_groups = { agent = "S0123", lead = ["S0456"] }
matrix_rooms = { agent = "!team:example.org" }
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from bot.access import STAFF_ROLES
from bot.core.config import Language, Section, TimeZoneName, did_you_mean, unknown

StaffRole = Literal["agent", "lead", "coordinator", "admin"]


class PersonConfig(Section):
    name: str | None = None
    slack: str | None = None
    matrix: str | None = None
    timezone: TimeZoneName | None = None
    language: Language | None = None
    roles: list[StaffRole] = Field(default_factory=lambda: list[StaffRole](["agent"]))
    phone: str | None = None
    # their mail address: mail from it is theirs (the support mailbox), and it passes the sender check
    email: str | None = None


class SenderRule(Section):
    """``[[senders]]``: addresses that may open tickets by mail besides those of ``[people]`` when ``[mail] senders
    = "known"`` — one address, or a pattern with ``*`` (``*@club.example.org``: everyone of a domain)."""

    address: str
    name: str | None = None    # what the rule is (shown to nobody; for the admin reading the config)

    @field_validator("address")
    @classmethod
    def _pattern(cls, value: str) -> str:
        value = value.strip().lower()
        if "@" not in value or any(c in value for c in " <>[]?"):
            raise ValueError(f"{value!r} is not an address or a pattern like \"*@example.org\"")
        return value


class AccessConfig(Section):
    # role → platform group id(s): a Slack user group ("S0123") or a Matrix room ("!room:server")
    slack_groups: dict[str, str | list[str]] = Field(default_factory=dict)
    matrix_rooms: dict[str, str | list[str]] = Field(default_factory=dict)

    @field_validator("slack_groups", "matrix_rooms")
    @classmethod
    def _roles(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for role in value:
            if role not in STAFF_ROLES:
                guess = did_you_mean(role, STAFF_ROLES)
                message = (unknown("role", role, STAFF_ROLES, "roles") if guess else
                           f"unknown role \"{role}\"; roles are {', '.join(STAFF_ROLES)}")
                raise ValueError(f"{message} (anyone else is a requester)")
        return value

    def groups(self, platform: str) -> dict[str, list[str]]:
        """role → group ids for a platform; the simulator and the console see both kinds."""
        tables = {"slack": [self.slack_groups], "matrix": [self.matrix_rooms]}.get(
            platform, [self.slack_groups, self.matrix_rooms])
        out: dict[str, list[str]] = {}
        for table in tables:
            for role, ids in table.items():
                out.setdefault(role, []).extend([ids] if isinstance(ids, str) else ids)
        return out
