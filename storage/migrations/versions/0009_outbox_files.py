"""outbox files: the bytes of a file sent with an outbox row's message (the report's chart)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 12:40:00

A table of its own rather than a column of ``outbox``: the sender's loop selects outbox rows every second and
would read the bytes with them. A new table, so no rewrite of anything on either database.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'outbox_files',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('outbox_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('content_type', sa.String(length=100), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_outbox_files_outbox_id_outbox'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_files')),
        sa.UniqueConstraint('outbox_id', 'position', name='uq_outbox_files_position'),
    )


def downgrade() -> None:
    op.drop_table('outbox_files')
