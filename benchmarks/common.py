"""Helpers the benchmarks share: a throw-away PostgreSQL database, timing, and the result table.

Every benchmark prints ratios against a baseline measured in the same run (DESIGN.md, Testing),
so the numbers compare across machines even though the absolute rates do not.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy.engine import make_url

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_ENV = "DUTYDESK_BENCH_PG_URL"
TARGETS_ENV = "DUTYDESK_BENCH_TARGETS"


class PgUnavailable(Exception):
    """The PostgreSQL server cannot be reached; the message is one line saying why."""


@contextmanager
def pg_database(prefix: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this run (``<prefix>_<pid>``), dropped at the end.

    The server is ``$DUTYDESK_BENCH_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``);
    the database is created through the ``postgres`` maintenance database. Raises PgUnavailable
    when the server cannot be reached.
    """
    import psycopg

    base = make_url(os.environ.get(PG_ENV, PG_DEFAULT))
    where = f"{base.host or '127.0.0.1'}:{base.port or 5432}"
    try:
        conn = psycopg.connect(host=base.host or "127.0.0.1", port=base.port or 5432, user=base.username or "postgres",
                               password=base.password, dbname="postgres", autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PgUnavailable(f"PostgreSQL at {where} is not reachable ({first})") from None
    name = f"{prefix}_{os.getpid()}"
    try:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
        yield base.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, file=None) -> None:
    """A plain text table: the first column left-aligned, the others right-aligned."""
    out = file or sys.stdout
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [str(cells[0]).ljust(widths[0])]
        parts += [str(cell).rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    print(line(headers), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        print(line(row), file=out)
    out.flush()


def report_target(measure: str, now: str, target: str, met: bool) -> None:
    """One target's state for the table at the end of ``run.py``, and a line in this benchmark's output.

    ``run.py`` names a file in ``$DUTYDESK_BENCH_TARGETS``; each call appends one JSON line to it.
    """
    print(f"target: {measure}: {now} (target {target}) {'met' if met else 'MISSED'}", flush=True)
    path = os.environ.get(TARGETS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"measure": measure, "now": now, "target": target, "met": met}) + "\n")
