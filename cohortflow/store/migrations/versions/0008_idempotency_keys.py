"""The API's idempotency keys: which request each ``Idempotency-Key`` was first used for.

A command sent again with the same key is the same Temporal Update (the key is its
update id), so the cohort applies it once and answers the first answer again. What
Temporal cannot tell is whether the request sent again is the same request: the
row keeps the digest of the first one, per workflow and command, and a request
with another body under the key is refused.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE api_idempotency_keys (
            scope text NOT NULL,
            key text NOT NULL,
            request_digest text NOT NULL,
            first_used_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (scope, key)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE api_idempotency_keys")
