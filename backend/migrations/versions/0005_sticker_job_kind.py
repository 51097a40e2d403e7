"""job kind `emoji` is `sticker` in code (the API still calls it `emoji`)

Revision ID: 0005
Revises: 0004

"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("UPDATE jobs SET kind = 'sticker' WHERE kind = 'emoji'")


def downgrade():
    op.execute("UPDATE jobs SET kind = 'emoji' WHERE kind = 'sticker'")
