"""retention policies (personal data lifecycle)

Revision ID: 0008
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa
import tracker.types


revision = '0008'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'retention_policies',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('years_after_close', sa.Integer(), nullable=False),
        sa.Column('is_active', sa.Boolean(), nullable=False),
        sa.Column('note', sa.String(length=500), nullable=False),
        sa.Column('updated_at', tracker.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_retention_policies_updated_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_policies')),
        sa.UniqueConstraint('channel', name=op.f('uq_retention_policies_channel')),
    )


def downgrade() -> None:
    op.drop_table('retention_policies')
