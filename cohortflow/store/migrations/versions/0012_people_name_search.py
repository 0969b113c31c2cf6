"""A trigram index on registered people's names, so that a search by part of a name finds the few people it
names without reading the whole registry.

pg_trgm ships with PostgreSQL (contrib) and is a trusted extension: the database's owner may create it. Its
trigrams of Chinese names are hashed characters, so a search of two or three characters uses the index too.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        CREATE INDEX rm_people_by_name ON rm_people USING gin (name gin_trgm_ops);
        """
    )


def downgrade() -> None:
    op.execute("DROP INDEX rm_people_by_name")
