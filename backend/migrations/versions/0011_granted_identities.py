"""One signup grant per person: keyed hashes of the WeChat identities that had it, kept after erasure

Revision ID: 0011
Revises: 0010

"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'granted_identities',
        sa.Column('identity_hash', sa.String(length=64), primary_key=True),
        sa.Column('granted_at', sa.DateTime(), nullable=False),
    )


def downgrade():
    op.drop_table('granted_identities')
