"""Give the store a secret of its own for keying people (person_key = HMAC-SHA256 of the ID number).

A plain hash of an ID number can be searched: a masked number (division code
and check character shown) leaves few enough candidates to try them all against
the key. Keyed with a secret only the store holds, the key tells nothing.

The secret lives in the store identity row, so a backup (pg_dump) carries it.
PostgreSQL generates it (from its strong random source, two random UUIDs hashed
to 32 bytes), so it never appears in a statement's text or a server log. A store
that already recorded person keys the unkeyed way keeps that scheme (the secret
stays NULL): its ledgers and duplicate checks match people across cohorts by the
keys already recorded, and keys of two schemes would never match.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
import structlog
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NEW_SECRET = "sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()))"


def upgrade() -> None:
    keyed = op.get_bind().execute(sa.text("SELECT EXISTS (SELECT 1 FROM events WHERE data ? 'person_key')"))
    legacy = bool(keyed.scalar())
    # Adding a column fills the existing identity row without an UPDATE, which the row's guard refuses:
    # with the default, a secret of its own; without one, NULL (the legacy scheme).
    op.execute(
        f"""
        ALTER TABLE store_identity ADD COLUMN person_key_secret bytea
            {"" if legacy else f"DEFAULT {NEW_SECRET}"}
            CHECK (person_key_secret IS NULL OR octet_length(person_key_secret) = 32);
        ALTER TABLE store_identity ALTER COLUMN person_key_secret SET DEFAULT {NEW_SECRET};
        """
    )
    if legacy:
        structlog.get_logger().warning(
            "this store already holds unkeyed person keys and keeps that scheme: person_key stays a plain "
            "SHA-256 of the ID number, which a masked number does not protect (see docs/operations.md)"
        )


def downgrade() -> None:
    op.execute("ALTER TABLE store_identity DROP COLUMN person_key_secret")
