"""An index finding a person's places in every cohort by their person key, for the person's page (the cohorts they
were nominated to, and how each stands) without reading every cohort's participants.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX rm_participants_by_person ON rm_participants (person_key)")


def downgrade() -> None:
    op.execute("DROP INDEX rm_participants_by_person")
