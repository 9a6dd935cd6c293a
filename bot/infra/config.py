"""``[storage]``, ``[ops]`` and ``[ha]``: the database, the HTTP endpoints for operations, several replicas."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, SecretStr, field_validator, model_validator

from bot.core.config import Section, refuse
from bot.sla.durations import duration_text, wall_duration

DEFAULT_DB_URL = "sqlite+aiosqlite:///dutydesk.db"

# how long a lease or a sweep lasts: seconds to hours, never working days
if TYPE_CHECKING:
    HaDuration = timedelta
else:
    HaDuration = wall_duration(days=False, bad='{text!r} is not a duration; write e.g. "30s", "1m" or "1m30s"')


class StorageConfig(Section):
    url: str = DEFAULT_DB_URL

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+psycopg://")):
            raise ValueError(
                "must be an async URL: sqlite+aiosqlite:///FILE or postgresql+psycopg://USER@HOST/DB"
            )
        return value


def sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite+aiosqlite:///FILE`` URL; None for PostgreSQL or an in-memory database."""
    if not url.startswith("sqlite+aiosqlite:///"):
        return None
    name = url.removeprefix("sqlite+aiosqlite:///").partition("?")[0]
    return Path(name) if name and name != ":memory:" else None


class OpsConfig(Section):
    """``/healthz`` and Prometheus ``/metrics`` over HTTP while ``dutydesk run`` runs, on this listener only
    (not on the Slack HTTP endpoint's port)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9469, ge=0, le=65535)
    # DUTYDESK_OPS__TOKEN: /metrics and the details of /healthz only with "Authorization: Bearer TOKEN"
    token: SecretStr | None = None


class HaConfig(Section):
    """Several replicas on one PostgreSQL database (README, "Operations"): the singletons (the Matrix
    sync, the scheduler) run on the replica that holds their lease in ``leases``; it renews the lease
    every ``lease_renew`` for ``lease_ttl``, so after a crash another replica takes over within
    ``lease_ttl + lease_renew``. Every ``recover_every`` each replica finishes inbox events that were
    stored but are still unhandled ``recover_after`` later (a replica died between the two)."""

    lease_ttl: HaDuration = timedelta(seconds=30)
    lease_renew: HaDuration = timedelta(seconds=10)
    recover_every: HaDuration = timedelta(seconds=30)
    recover_after: HaDuration = timedelta(minutes=1)

    @model_validator(mode="after")
    def _renew_within_ttl(self) -> HaConfig:
        if self.lease_renew * 2 > self.lease_ttl:
            refuse(("lease_renew", f"{duration_text(self.lease_renew)} is more than half of ha.lease_ttl "
                                   f"({duration_text(self.lease_ttl)}); a holder must be able to renew at least "
                                   "twice before its lease runs out"))
        return self

    def seconds(self, key: str) -> float:
        """A duration of this section in seconds."""
        value: timedelta = getattr(self, key)
        return value.total_seconds()
