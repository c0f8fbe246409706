"""sourcepackagerelease: who signed the upload

With ``[upload] keyring`` configured, an upload's .dsc must be signed by
a key in the keyring; the signing key's fingerprint (the primary key's,
40 or 64 hex digits) and its user id are kept on the source release.
Both are NULL for releases taken without a keyring.

Revision ID: 0009_source_signer
Revises: 0008_api_tokens
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa


revision = '0009_source_signer'
down_revision = '0008_api_tokens'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sourcepackagerelease') as batch:
        batch.add_column(sa.Column('signing_key_fingerprint', sa.String(64),
                                   nullable=True))
        batch.add_column(sa.Column('signing_key_uid', sa.String(255), nullable=True))


def downgrade():
    with op.batch_alter_table('sourcepackagerelease') as batch:
        batch.drop_column('signing_key_uid')
        batch.drop_column('signing_key_fingerprint')
