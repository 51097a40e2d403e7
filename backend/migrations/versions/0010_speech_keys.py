"""API keys that speak for an account: the OpenAI-compatible /v1/audio/speech bills the key's user

Revision ID: 0010
Revises: 0009

"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('api_keys') as batch:
        batch.add_column(sa.Column('user_id', sa.String(length=32), nullable=True))
        batch.create_foreign_key('fk_api_keys_user_id', 'users', ['user_id'], ['id'])
        batch.create_index('ix_api_keys_user_id', ['user_id'])


def downgrade():
    with op.batch_alter_table('api_keys') as batch:
        batch.drop_index('ix_api_keys_user_id')
        batch.drop_constraint('fk_api_keys_user_id', type_='foreignkey')
        batch.drop_column('user_id')
