"""The partial indexes on open tickets (migration 0005) and the queries that must use them: the open
states listed in storage/models.py are the state machine's, in the one order SQLite matches on, and
SQLite's planner takes the indexes for /queue's oldest open tickets and for the digest."""

from __future__ import annotations

from sqlalchemy import event

from bot.digest import prio1
from bot.tickets import queue
from bot.tickets.states import OPEN_STATES
from storage import maintenance
from storage.db import make_engine, make_sessionmaker
from storage.models import TICKET_OPEN_STATES


def test_the_listed_open_states_are_the_state_machines() -> None:
    assert list(TICKET_OPEN_STATES) == sorted(state.value for state in OPEN_STATES)


async def test_sqlite_uses_the_open_ticket_indexes(sqlite_template, tmp_path) -> None:
    import shutil

    path = tmp_path / "plans.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    seen: list[tuple[str, object]] = []
    event.listen(engine.sync_engine, "before_cursor_execute",
                 lambda _c, _cur, statement, params, _ctx, _many: seen.append((statement, params)))
    try:
        # a desk with some history: mostly closed tickets, a few open ones; then the bot's ANALYZE
        async with engine.begin() as conn:
            await conn.exec_driver_sql("INSERT INTO people (id, key, display_name, is_staff, created_at) "
                                       "VALUES (1, 'ann', 'Ann', 1, '2026-01-01 00:00:00')")
            await conn.exec_driver_sql(
                "INSERT INTO tickets (id, key, prefix, number, requester_id, assignee_id, title, description, "
                "priority, state, origin_platform, language, data, created_at, updated_at) VALUES "
                "(?, ?, 'HW', ?, 1, ?, 'a title', '', ?, ?, 'sim', 'en', '{}', ?, ?)",
                [(n, f"HW-{n}", n, None if n % 3 else 1, 1 + n % 3, "new" if n % 50 == 0 else "closed",
                  f"2026-01-01 00:{n % 60:02}:00", f"2026-01-01 00:{n % 60:02}:00") for n in range(1, 3001)])
        assert await maintenance.analyze(engine)
        async with make_sessionmaker(engine)() as session:
            await queue.snapshot(session)
            await session.execute(prio1.digest_query([1]))
        plans = {}
        async with engine.connect() as conn:
            for statement, params in list(seen):
                if "FROM tickets" in statement and not statement.startswith("EXPLAIN"):
                    rows = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)).all()
                    plans[" ".join(statement.split())] = " / ".join(str(row[-1]) for row in rows)
    finally:
        await engine.dispose()
    assert all("'in_progress'" in statement for statement in plans), "the open states must be literals"
    oldest = next(plan for sql, plan in plans.items()
                  if "ORDER BY tickets.created_at" in sql and "people.display_name" in sql and "priority IN" not in sql)
    digest = next(plan for sql, plan in plans.items() if "tickets.priority IN" in sql)
    unassigned = next(plan for sql, plan in plans.items() if "assignee_id IS NULL ORDER BY" in sql)
    assert "ix_tickets_open_created" in oldest, oldest
    assert "ix_tickets_open_priority_created" in digest, digest
    assert "ix_tickets_open_unassigned" in unassigned, unassigned
