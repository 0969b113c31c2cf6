"""Index events by cohort stream and participant, so one person's history is found directly.

Events that concern no single participant (phases, the selection decision) share
the empty key, so "this person's events and the cohort's own" is one index range
per key: an as-of query for one participant no longer reads the whole cohort.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX events_by_participant ON events (stream_id, (coalesce(data->>'participant_id', '')))")


def downgrade() -> None:
    op.execute("DROP INDEX events_by_participant")
