"""An index finding registered people by an ID number as a role is shown it: masked, a number keeps its first
six digits (the division code) and its check character, so a search by the masked number, or by the whole number
(which has the same two), reads only the people who share them.

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX rm_people_by_id_ends ON rm_people (left(national_id, 6), right(national_id, 1))")


def downgrade() -> None:
    op.execute("DROP INDEX rm_people_by_id_ends")
