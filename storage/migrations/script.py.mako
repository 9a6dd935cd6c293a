"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

# Rolling upgrades (docs/admin.md, "Upgrades"): replicas of the previous release run on this schema until they
# are rolled. Only add here (tables, nullable columns or columns with a server default, indexes: CONCURRENTLY on
# PostgreSQL); remove or rename what the previous release uses one release later.

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


${imports if imports else ""}

revision: str = ${repr(up_revision)}
down_revision: str | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
