"""Consent that is checked: one voice per consent token, and whether (and how) the recording was found to say
its sentence; voices saved before stay usable, marked unverified

Revision ID: 0012
Revises: 0011

"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('voices') as batch:
        batch.add_column(sa.Column('consent_token_id', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('consent_status', sa.String(length=16), nullable=False,
                                   server_default='unverified'))
        batch.add_column(sa.Column('consent_check', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('consent_transcript', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('consent_error_rate', sa.Float(), nullable=True))
        batch.create_unique_constraint('uq_voices_consent_token_id', ['consent_token_id'])


def downgrade():
    with op.batch_alter_table('voices') as batch:
        batch.drop_constraint('uq_voices_consent_token_id', type_='unique')
        for column in ('consent_error_rate', 'consent_transcript', 'consent_check', 'consent_status',
                       'consent_token_id'):
            batch.drop_column(column)
