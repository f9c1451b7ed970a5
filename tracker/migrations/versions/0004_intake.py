"""intake: import batches, portal counters, adapter states, hotline callbacks, API key scopes

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa
import tracker.types

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('intake_adapter_states',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('cursor', sa.JSON(), nullable=False),
    sa.Column('last_attempt_at', tracker.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', tracker.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_received_at', tracker.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error_at', tracker.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', tracker.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('alerted_at', tracker.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('received_total', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_intake_adapter_states'))
    )
    op.create_table('portal_counters',
    sa.Column('client_hash', sa.String(length=64), nullable=False),
    sa.Column('window', sa.String(length=32), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('expires_at', tracker.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('client_hash', 'window', name=op.f('pk_portal_counters'))
    )
    with op.batch_alter_table('portal_counters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_counters_expires_at'), ['expires_at'], unique=False)
    op.create_table('api_key_scopes',
    sa.Column('api_key_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], name=op.f('fk_api_key_scopes_api_key_id_api_keys'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_api_key_scopes_department_id_departments')),
    sa.PrimaryKeyConstraint('api_key_id', name=op.f('pk_api_key_scopes'))
    )
    op.create_table('import_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('filename', sa.String(length=500), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('stored_path', sa.String(length=1000), nullable=True),
    sa.Column('department_code', sa.String(length=64), nullable=True),
    sa.Column('is_skip_bad_rows', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('total_rows', sa.Integer(), nullable=False),
    sa.Column('processed_rows', sa.Integer(), nullable=False),
    sa.Column('created_count', sa.Integer(), nullable=False),
    sa.Column('updated_count', sa.Integer(), nullable=False),
    sa.Column('unchanged_count', sa.Integer(), nullable=False),
    sa.Column('rejected_count', sa.Integer(), nullable=False),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', tracker.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', tracker.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', tracker.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_import_batches_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_batches'))
    )
    with op.batch_alter_table('import_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_batches_file_sha256'), ['file_sha256'], unique=False)
    op.create_table('hotline_callbacks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', tracker.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', tracker.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', tracker.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['ticket_events.id'], name=op.f('fk_hotline_callbacks_event_id_ticket_events')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_hotline_callbacks_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hotline_callbacks')),
    sa.UniqueConstraint('event_id', name=op.f('uq_hotline_callbacks_event_id'))
    )
    with op.batch_alter_table('hotline_callbacks', schema=None) as batch_op:
        batch_op.create_index('ix_hotline_callbacks_pending', ['next_attempt_at'], unique=False, postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))


def downgrade() -> None:
    with op.batch_alter_table('hotline_callbacks', schema=None) as batch_op:
        batch_op.drop_index('ix_hotline_callbacks_pending', postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
    op.drop_table('hotline_callbacks')
    with op.batch_alter_table('import_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_batches_file_sha256'))
    op.drop_table('import_batches')
    op.drop_table('api_key_scopes')
    with op.batch_alter_table('portal_counters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_counters_expires_at'))
    op.drop_table('portal_counters')
    op.drop_table('intake_adapter_states')
