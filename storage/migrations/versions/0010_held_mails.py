"""held_mails: mails to a colleague personally, held for the mailbox holder (the Head of Mailbox)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 12:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'held_mails',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_key', sa.String(length=255), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('sender_id', sa.Integer(), nullable=False),
        sa.Column('colleague', sa.String(length=120), nullable=False),
        sa.Column('holder', sa.String(length=120), nullable=True),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('ticket_key', sa.String(length=32), nullable=True),
        sa.Column('handled_by', sa.Integer(), nullable=True),
        sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('card', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['sender_id'], ['people.id'], name=op.f('fk_held_mails_sender_id_people')),
        sa.ForeignKeyConstraint(['handled_by'], ['people.id'], name=op.f('fk_held_mails_handled_by_people')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_held_mails')),
        sa.UniqueConstraint('event_key', name=op.f('uq_held_mails_event_key')),
    )
    op.create_index('ix_held_mails_state_created', 'held_mails', ['state', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_held_mails_state_created', table_name='held_mails')
    op.drop_table('held_mails')
