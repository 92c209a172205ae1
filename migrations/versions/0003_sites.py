"""site policies, callbacks, duplicate and idempotency keys, withdrawn comments

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 11:33:28.575003
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('callback_secrets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('secret', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('callback_secrets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_callback_secrets_site_id'), ['site_id'], unique=False)

    op.create_table('site_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('policy', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('site_id', 'version')
    )
    op.create_table('callback_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=40), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('comment_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['comment_id'], ['comments.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_id')
    )
    with op.batch_alter_table('callback_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_callback_events_site_id'), ['site_id'], unique=False)
        batch_op.create_index('ix_callback_events_undelivered', ['delivered_at', 'failed_at', 'created_at'], unique=False)

    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_digest', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ux_comments_duplicate', ['article_id', 'author_fingerprint', 'content_digest'], unique=True)
        batch_op.create_index('ux_comments_idempotency', ['site_id', 'idempotency_key'], unique=True)

    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('policy', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('policy_version', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('callback_url', sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column('publishable_key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('allowed_origins', sa.JSON(), nullable=True))
        batch_op.create_unique_constraint('uq_sites_publishable_key', ['publishable_key'])



def downgrade() -> None:
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_constraint('uq_sites_publishable_key', type_='unique')
        batch_op.drop_column('allowed_origins')
        batch_op.drop_column('publishable_key')
        batch_op.drop_column('callback_url')
        batch_op.drop_column('policy_version')
        batch_op.drop_column('policy')

    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.drop_index('ux_comments_idempotency')
        batch_op.drop_index('ux_comments_duplicate')
        batch_op.drop_column('edited_at')
        batch_op.drop_column('idempotency_key')
        batch_op.drop_column('content_digest')

    with op.batch_alter_table('callback_events', schema=None) as batch_op:
        batch_op.drop_index('ix_callback_events_undelivered')
        batch_op.drop_index(batch_op.f('ix_callback_events_site_id'))

    op.drop_table('callback_events')
    op.drop_table('site_policies')
    with op.batch_alter_table('callback_secrets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_callback_secrets_site_id'))

    op.drop_table('callback_secrets')
