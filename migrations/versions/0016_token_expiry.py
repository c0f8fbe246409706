"""token expiry: an API token may be refused from a moment on

``buildmaster token create --expires DAYS|YYYY-MM-DD`` sets it; the web
refuses an expired token as it refuses an unknown one.  Tokens made
before have none and never expire.

Revision ID: 0016_token_expiry
Revises: 0015_build_step_times
Create Date: 2026-12-08
"""

from alembic import op
import sqlalchemy as sa


revision = '0016_token_expiry'
down_revision = '0015_build_step_times'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('apitoken') as batch:
        batch.add_column(sa.Column('date_expires', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('apitoken') as batch:
        batch.drop_column('date_expires')
