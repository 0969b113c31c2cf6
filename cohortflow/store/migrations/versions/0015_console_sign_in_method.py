"""Which way a console session signed in: with the account's password, or through the province's OpenID Connect
provider. Sessions already open signed in with a password, the only way there was.

Revision ID: 0015
Revises: 0014
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE console_sessions ADD COLUMN signed_in_by text NOT NULL DEFAULT 'password'"
        " CHECK (signed_in_by IN ('password', 'oidc'))"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE console_sessions DROP COLUMN signed_in_by")
