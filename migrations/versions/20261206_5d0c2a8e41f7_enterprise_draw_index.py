"""enterprise draw index: a covering index from which a draw reads its population, grouped by
status, entity type and industry

Revision ID: 5d0c2a8e41f7
Revises: 9763a77cf028
Create Date: 2026-12-06 08:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '5d0c2a8e41f7'
down_revision: Union[str, Sequence[str], None] = '9763a77cf028'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = [sa.text('(id % 2)'), 'status', 'entity_type', 'industry_code', 'uscc', 'district_code', 'station']


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('enterprises', schema=None) as batch_op:
        batch_op.create_index('ix_enterprises_draw', COLUMNS, unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('enterprises', schema=None) as batch_op:
        batch_op.drop_index('ix_enterprises_draw')
