"""Give the store an identity, so a digest can say which store it was taken from.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE store_identity (
            singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            store_id uuid NOT NULL DEFAULT gen_random_uuid(),
            created_at timestamptz NOT NULL DEFAULT now()
        );
        INSERT INTO store_identity DEFAULT VALUES;
        CREATE TRIGGER store_identity_no_change BEFORE UPDATE OR DELETE ON store_identity
            FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
        CREATE TRIGGER store_identity_no_truncate BEFORE TRUNCATE ON store_identity
            FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE store_identity")
