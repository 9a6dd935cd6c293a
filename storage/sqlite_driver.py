"""SQLAlchemy's aiosqlite adapter with one hand-over to the database thread per statement instead of four.

aiosqlite runs SQLite in a thread of its own, and every call into it is a round trip: the call queued, the thread
woken, the answer handed back to the event loop through its self-pipe. SQLAlchemy's cursor makes four of them for
each statement (open a cursor, execute, fetch the rows, close it), so on the ticket path most of the time spent
for SQLite was spent passing messages. :class:`OneTripCursor` does all four in one function that runs in
aiosqlite's thread and brings back the description, the rows, ``rowcount`` and ``lastrowid`` together.
:class:`OneTripConnection` sends a commit or rollback only when a transaction is open (see there).

It is installed by passing :func:`dbapi` as the engine's ``module`` (storage/db.make_engine): the URL, the
dialect and everything else stay SQLAlchemy's own. Server-side cursors (``stream``) keep SQLAlchemy's.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

# what one statement brings back from the database thread: description, rows, rowcount, lastrowid
_Outcome = tuple[Any, list[Any], int, int | None]


def _run(connection: sqlite3.Connection, many: bool, operation: str, parameters: Any) -> _Outcome:
    """Runs in aiosqlite's thread: the whole life of a sqlite3 cursor for one statement."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A DB-API cursor over aiosqlite whose statements each take one trip to the database thread (see above)."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:  # no cursor opened: no trip
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        """Rows come back all at once: there is no batch size to set."""

    async def _async_soft_close(self) -> None:
        """Nothing is open on the database's side between trips (``close`` is SQLAlchemy's: no cursor, no trip)."""

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            return await_(self._trip(False, operation, parameters))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        try:
            return await_(self._trip(True, operation, seq_of_parameters))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _trip(self, many: bool, operation: str, parameters: Any) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            outcome: _Outcome = await connection._execute(_run, connection._conn, many, operation, parameters)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = deque(rows)

    def nextset(self) -> None:
        raise NotImplementedError("SQLite has one result set a statement")


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor  # type: ignore[assignment]

    # sqlite3's commit and rollback do nothing outside a transaction, yet aiosqlite sends each to the database
    # thread. The pool rolls back every connection it takes back, also one whose transaction just committed: a
    # trip per transaction for nothing. ``in_transaction`` is a read of SQLite's autocommit flag, which needs no
    # trip, and nothing runs on the connection meanwhile (it is between statements). psycopg skips them likewise.

    def commit(self) -> None:
        if self._in_transaction():
            super().commit()

    def rollback(self) -> None:
        if self._in_transaction():
            super().rollback()

    def _in_transaction(self) -> bool:
        sqlite: sqlite3.Connection | None = self._connection._connection
        return sqlite is not None and sqlite.in_transaction


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        connection = super().connect(*arg, **kw)
        connection.__class__ = OneTripConnection   # the same slots: only the cursor class differs
        return connection  # type: ignore[return-value]


def dbapi() -> OneTripDBAPI:
    """The DB-API module for ``create_async_engine(..., module=dbapi())`` on a ``sqlite+aiosqlite`` URL."""
    return OneTripDBAPI(aiosqlite, sqlite3)
