"""Telling "the database is away for now" from a bug: a lost connection, a server restart, a full
disk or a lock that timed out pass by themselves, and the work is tried again later (the inbox
row stays ``received``, the outbox row stays ``pending``); anything else is a bug in that event."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

# SQLite says "operational error" for schema mistakes too; only these pass by themselves
_SQLITE_TRANSIENT = ("full", "locked", "busy", "disk i/o", "unable to open", "readonly", "read-only")


class StorageNotReady(Exception):
    """The database cannot be served by this code as it is (its schema is behind, or it holds work no feature
    of this version does); the message says what to run or do."""


class StorageUnavailable(Exception):
    """The database could not be reached or written; ``accepted`` tells whether the event was
    already stored in the inbox (then a recovery pass finishes it, nobody needs to send it again)."""

    def __init__(self, *, accepted: bool, cause: BaseException | None = None) -> None:
        reason = type(cause).__name__ if cause is not None else "unavailable"
        super().__init__(f"storage unavailable ({reason}); {'stored' if accepted else 'not stored'}")
        self.accepted = accepted


def unavailable(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) says the database is away rather than the work is wrong."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, StorageUnavailable | sa_exc.DisconnectionError | sa_exc.TimeoutError | ConnectionError):
            return True
        if isinstance(current, sa_exc.DBAPIError):
            if current.connection_invalidated:
                return True
            if isinstance(current, sa_exc.InterfaceError):
                return True
            if isinstance(current, sa_exc.OperationalError):
                orig = current.orig
                module = type(orig).__module__ if orig is not None else ""
                if module.startswith("sqlite3") or "sqlite" in module:
                    return any(word in str(orig).lower() for word in _SQLITE_TRANSIENT)
                return True  # psycopg: connection lost, admin shutdown, server starting, deadlock, …
        current = current.__cause__
    return False
