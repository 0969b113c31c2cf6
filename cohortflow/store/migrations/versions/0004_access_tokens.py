"""Bearer tokens for the HTTP API and the CLI; only a SHA-256 of each secret is kept.

Revoked tokens stay in the table (revoked_at/revoked_by), so it remains known
who held a token that appears in old event metadata.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE access_tokens (
            token_id text PRIMARY KEY,
            secret_sha256 text NOT NULL UNIQUE,
            name text NOT NULL,
            role text NOT NULL CHECK (role IN ('admin', 'coordinator', 'auditor', 'reminder')),
            prefecture text NULL CHECK (prefecture ~ '^[0-9]{6}$'),
            issued_at timestamptz NOT NULL DEFAULT now(),
            issued_by text NOT NULL,
            revoked_at timestamptz NULL,
            revoked_by text NULL,
            CHECK (role <> 'coordinator' OR prefecture IS NOT NULL),
            CHECK (role = 'coordinator' OR prefecture IS NULL),
            CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE access_tokens")
