"""Accounts that sign in to the web console with a password, and their sessions.

An account has a role and a unit exactly as a token has (the same checks, the same scopes); its
password is kept as an Argon2id hash only. A session is kept by the SHA-256 of its cookie's random
value, with the form token (CSRF) its forms must carry and the moment it expires; signing out
deletes it.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE accounts (
            name text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 100),
            password_hash text NOT NULL,
            role text NOT NULL
                CHECK (role IN ('admin', 'coordinator', 'auditor', 'reminder', 'school', 'reviewer')),
            prefecture text NULL CHECK (prefecture ~ '^[0-9]{6}$'),
            county text NULL CHECK (county ~ '^[0-9]{6}$'),
            school text NULL CHECK (length(school) BETWEEN 1 AND 200),
            created_at timestamptz NOT NULL DEFAULT now(),
            created_by text NOT NULL,
            disabled_at timestamptz NULL,
            disabled_by text NULL,
            CHECK ((role IN ('coordinator', 'school', 'reviewer')) = (prefecture IS NOT NULL)),
            CHECK ((role IN ('school', 'reviewer')) = (county IS NOT NULL)),
            CHECK ((role = 'school') = (school IS NOT NULL))
        );
        CREATE TABLE console_sessions (
            session_sha256 text PRIMARY KEY,
            account text NOT NULL REFERENCES accounts (name),
            csrf text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL
        );
        CREATE INDEX console_sessions_by_account ON console_sessions (account);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE console_sessions, accounts")
