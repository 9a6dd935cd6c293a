"""contacts: outside requesters (callers, mail senders) and a ticket's opener

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 09:30:00

``tickets.opener_id`` is added as a plain nullable column (ALTER TABLE … ADD COLUMN on both databases: no
rewrite of a large tickets table, and SQLite keeps its partial indexes, which a batch copy would rebuild);
rows from before stay NULL, which means the requester opened the ticket, as they all did.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'contacts',
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=True),
        sa.Column('phone', sa.String(length=20), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_contacts_person_id_people'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('person_id', name=op.f('pk_contacts')),
        sa.UniqueConstraint('email', name=op.f('uq_contacts_email')),
    )
    op.create_index(op.f('ix_contacts_phone'), 'contacts', ['phone'], unique=False)
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE tickets ADD COLUMN opener_id INTEGER '
                   'CONSTRAINT fk_tickets_opener_id_people REFERENCES people (id)')
        return
    op.add_column('tickets', sa.Column('opener_id', sa.Integer(), nullable=True))
    # NOT VALID, then VALIDATE: the check of the (all NULL) rows does not block writes to tickets meanwhile
    op.execute('ALTER TABLE tickets ADD CONSTRAINT fk_tickets_opener_id_people FOREIGN KEY (opener_id) '
               'REFERENCES people (id) NOT VALID')
    op.execute('ALTER TABLE tickets VALIDATE CONSTRAINT fk_tickets_opener_id_people')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite drops a column with a foreign key only by copying the table; the copy keeps the partial indexes
        with op.batch_alter_table('tickets', schema=None) as batch_op:
            batch_op.drop_constraint(op.f('fk_tickets_opener_id_people'), type_='foreignkey')
            batch_op.drop_column('opener_id')
    else:
        op.drop_constraint(op.f('fk_tickets_opener_id_people'), 'tickets', type_='foreignkey')
        op.drop_column('tickets', 'opener_id')
    op.drop_index(op.f('ix_contacts_phone'), table_name='contacts')
    op.drop_table('contacts')
