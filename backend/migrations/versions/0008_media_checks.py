"""media moderation: files submitted to WeChat's mediaCheckAsync and the jobs or voices they belong to

Revision ID: 0008
Revises: 0007

"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('media_checks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('path', sa.String(length=255), nullable=False),
    sa.Column('media_type', sa.String(length=8), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('trace_id', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=32), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('path'),
    sa.UniqueConstraint('trace_id')
    )
    with op.batch_alter_table('media_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_media_checks_status'), ['status'], unique=False)
    op.create_table('media_check_subjects',
    sa.Column('check_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subject_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['check_id'], ['media_checks.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('check_id', 'subject_id')
    )
    with op.batch_alter_table('media_check_subjects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_media_check_subjects_subject_id'), ['subject_id'], unique=False)


def downgrade():
    op.drop_table('media_check_subjects')
    op.drop_table('media_checks')
