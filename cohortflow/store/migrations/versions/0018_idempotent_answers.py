"""The first answer of a command that is not a Temporal Update, kept under its ``Idempotency-Key``.

Such a command (starting a cohort, recording a programme version, issuing
certificates) has no Update id for Temporal to join a second request to, so the
key's row claims the command while the first request runs (``claim``, until
``claimed_until``) and then keeps its answer (status, the headers that matter,
body), which the same request sent again is given instead of being run again.
The rows of Update commands (0008) leave these columns empty.

Revision ID: 0018
Revises: 0017
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE api_idempotency_keys
            ADD COLUMN claim uuid,
            ADD COLUMN claimed_until timestamptz,
            ADD COLUMN answer_status smallint,
            ADD COLUMN answer_headers jsonb,
            ADD COLUMN answer_body bytea
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE api_idempotency_keys
            DROP COLUMN claim,
            DROP COLUMN claimed_until,
            DROP COLUMN answer_status,
            DROP COLUMN answer_headers,
            DROP COLUMN answer_body
        """
    )
