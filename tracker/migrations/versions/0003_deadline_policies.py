"""deadline policy overrides

Revision ID: 0003
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import tracker.types


revision = '0003'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'deadline_policy_overrides',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=64), nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('request_type', sa.String(length=32), nullable=True),
        sa.Column('urgency', sa.String(length=32), nullable=True),
        sa.Column('unit', sa.String(length=16), nullable=False),
        sa.Column('length', sa.Integer(), nullable=False),
        sa.Column('max_extensions', sa.Integer(), nullable=False),
        sa.Column('max_extension_length', sa.Integer(), nullable=False),
        sa.Column('is_pausable', sa.Boolean(), nullable=False),
        sa.Column('pauses_reply', sa.Boolean(), nullable=False),
        sa.Column('effective_from', sa.Date(), nullable=False),
        sa.Column('effective_to', sa.Date(), nullable=True),
        sa.Column('legal_basis', sa.String(length=200), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', tracker.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('is_active', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_deadline_policy_overrides_created_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_deadline_policy_overrides')),
    )


def downgrade() -> None:
    op.drop_table('deadline_policy_overrides')
