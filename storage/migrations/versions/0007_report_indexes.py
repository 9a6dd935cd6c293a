"""indexes for reports: tickets by creation instant, ticket events by instant

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 09:30:00

``dutydesk report`` and ``/report`` read the tickets opened in a range and the events (closes, satisfaction
answers, changes after the range) that happened in it; without these two indexes both are full scans of the
largest tables. Built CONCURRENTLY on PostgreSQL, as 0005 explains (a desk keeps writing during the upgrade).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = [
    ('ix_tickets_created_at', 'tickets', ['created_at']),
    ('ix_ticket_events_at', 'ticket_events', ['at']),
]


def _postgres() -> bool:
    return op.get_bind().dialect.name == 'postgresql'


def _drop_if_invalid(name: str, table: str) -> None:
    invalid = op.get_bind().execute(sa.text(
        "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = :name AND NOT i.indisvalid AND pg_table_is_visible(c.oid)"), {'name': name}).first()
    if invalid is not None:
        op.drop_index(name, table_name=table, postgresql_concurrently=True)


def upgrade() -> None:
    if _postgres():
        with op.get_context().autocommit_block():
            for name, table, columns in INDEXES:
                _drop_if_invalid(name, table)
                op.create_index(name, table, columns, unique=False, postgresql_concurrently=True,
                                if_not_exists=True)
        return
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    if _postgres():
        with op.get_context().autocommit_block():
            for name, table, _columns in reversed(INDEXES):
                op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
        return
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
