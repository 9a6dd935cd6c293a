"""outbox: removing a person's message is an operation of the outbox, not a message kind

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('operation', sa.String(length=16), server_default='send', nullable=False))
        batch_op.alter_column('kind', existing_type=sa.String(length=32), nullable=True)
    # the rows keep kind = 'remove' for one release: replicas of the previous release, still running during a
    # rolling upgrade (migrate first, then roll), find removals by that kind and keep writing them that way
    op.execute("UPDATE outbox SET operation = 'remove' WHERE kind = 'remove'")


def downgrade() -> None:
    op.execute("UPDATE outbox SET kind = 'remove' WHERE operation = 'remove'")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('kind', existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_column('operation')
