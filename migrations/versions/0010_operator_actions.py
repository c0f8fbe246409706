"""operator actions: what operators did from the command line, for the log

One row per change an operator makes with ``buildmaster`` (who, as
user@host, and what, the sentence the command printed), written with
the change; the daemon logs each new row.

Revision ID: 0010_operator_actions
Revises: 0009_source_signer
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa


revision = '0010_operator_actions'
down_revision = '0009_source_signer'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'operatoraction',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('date', sa.DateTime(), nullable=False),
        sa.Column('who', sa.String(length=255), nullable=False),
        sa.Column('what', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade():
    op.drop_table('operatoraction')
