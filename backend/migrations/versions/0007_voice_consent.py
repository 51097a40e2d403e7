"""voices keep the speaker's consent record

Revision ID: 0007
Revises: 0006

"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('voices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('consent_text', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('consent_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('voices', schema=None) as batch_op:
        batch_op.drop_column('consent_at')
        batch_op.drop_column('consent_text')
