"""api tokens: bearer tokens for the web API, stored as their SHA-256

A token has a unique name (logged with each write it makes), the
SHA-256 of its secret, its rights ('write', 'private'), when it was made
and last used, and whether it was revoked.

Revision ID: 0008_api_tokens
Revises: 0007_bugtrackers
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa


revision = '0008_api_tokens'
down_revision = '0007_bugtrackers'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'apitoken',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('token_sha256', sa.String(length=64), nullable=False),
        sa.Column('rights', sa.String(length=64), nullable=False),
        sa.Column('date_created', sa.DateTime(), nullable=False),
        sa.Column('date_last_used', sa.DateTime(), nullable=True),
        sa.Column('revoked', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
        sa.UniqueConstraint('token_sha256'),
    )


def downgrade():
    op.drop_table('apitoken')
