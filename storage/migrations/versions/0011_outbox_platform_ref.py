"""outbox: find a sent message by its platform id

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 13:00:00

A button pressed on a message names that message by the platform's id (Slack's ts, Matrix's event id); the
bot finds the outbox row that sent it to replace its used buttons by what happened (bot/core/buttons.py).
The outbox keeps every message, so the lookup needs an index.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_outbox_platform_ref', 'outbox', ['platform', 'platform_ref'])


def downgrade() -> None:
    op.drop_index('ix_outbox_platform_ref', table_name='outbox')
