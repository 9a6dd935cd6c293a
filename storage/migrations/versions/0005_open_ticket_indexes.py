"""open-ticket partial indexes for /queue and the digest

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 14:46:35.513842

On PostgreSQL the indexes are built CONCURRENTLY: a desk with many tickets keeps taking them during the upgrade
(a plain CREATE INDEX blocks every write to ``tickets`` until it is done). That cannot run inside a transaction,
hence the autocommit block; a concurrent build that failed leaves an invalid index behind, which is dropped before
the next try, and an index that was built before the failure is kept (IF NOT EXISTS).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "state IN ('deferred', 'in_progress', 'new', 'triage', 'vendor', 'waiting_requester')"
INDEXES = [
    ('ix_tickets_open_created', ['created_at'], OPEN),
    ('ix_tickets_open_priority_created', ['priority', 'created_at'], OPEN),
    ('ix_tickets_open_unassigned', ['priority', 'created_at'], f"{OPEN} AND assignee_id IS NULL"),
]


def _postgres() -> bool:
    return op.get_bind().dialect.name == 'postgresql'


def _drop_if_invalid(name: str) -> None:
    invalid = op.get_bind().execute(sa.text(
        "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = :name AND NOT i.indisvalid AND pg_table_is_visible(c.oid)"), {'name': name}).first()
    if invalid is not None:
        op.drop_index(name, table_name='tickets', postgresql_concurrently=True)


def upgrade() -> None:
    if _postgres():
        with op.get_context().autocommit_block():
            for name, columns, where in INDEXES:
                _drop_if_invalid(name)
                op.create_index(name, 'tickets', columns, unique=False, postgresql_where=sa.text(where),
                                postgresql_concurrently=True, if_not_exists=True)
        return
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        for name, columns, where in INDEXES:
            batch_op.create_index(name, columns, unique=False, sqlite_where=sa.text(where))


def downgrade() -> None:
    if _postgres():
        with op.get_context().autocommit_block():
            for name, _columns, _where in reversed(INDEXES):
                op.drop_index(name, table_name='tickets', postgresql_concurrently=True, if_exists=True)
        return
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        for name, _columns, _where in reversed(INDEXES):
            batch_op.drop_index(name)
