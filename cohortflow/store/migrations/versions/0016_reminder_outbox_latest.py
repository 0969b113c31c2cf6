"""An index reading the reminder outbox newest first, for the console's reminders page: the latest messages (of any
cohort, or of one state) without sorting every message ever queued.

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX reminder_outbox_latest ON reminder_outbox (queued_at DESC, reminder DESC)")


def downgrade() -> None:
    op.execute("DROP INDEX reminder_outbox_latest")
