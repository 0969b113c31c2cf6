"""Store each event's data and metadata as the canonical JSON text its hash covers (chain format 2).

Until now ``data`` and ``metadata`` were JSONB, which keeps neither key order nor the spelling of the
text it was given, so verifying an event meant decoding its JSON and encoding it again to get back the
bytes that were hashed. As ``json`` the columns keep the text they are given byte for byte, and appends
give them the canonical text: verification hashes what is stored. The record hashed is unchanged, so
the chain itself is the same in both formats; what differs is where a verifier finds the bytes.

The conversion rewrites no event and no hash. Each existing event's JSON value is kept exactly (a JSONB
value's text form, which is not canonical: key order and spacing differ), so the events before this
migration stay verifiable only by the format 1 rules, decoding and re-encoding. The store's identity
says from which position on its events are stored in format 2; like the rest of the identity it is
written once and guarded against change, so no one can move the line to have old events checked by
rules they were not written under.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
import structlog
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

LARGE = 100_000
"""Events above which the conversion says it is under way: it rewrites the table, taking seconds per 100,000."""


def upgrade() -> None:
    bind = op.get_bind()
    # No append may land between reading the head and converting the table.
    op.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
    head = int(bind.execute(sa.text("SELECT coalesce(max(position), 0) FROM events")).scalar_one())
    if head >= LARGE:
        structlog.get_logger().info(
            "converting the events table to chain format 2 in one transaction; nothing is changed if it is interrupted",
            events=head,
        )
    op.execute(
        "ALTER TABLE events ALTER COLUMN data TYPE json USING data::json,"
        " ALTER COLUMN metadata TYPE json USING metadata::json"
    )
    # Adding the columns fills the existing identity row without an UPDATE, which the row's guard refuses (as
    # 0007 does); a store created later (or an identity row made anew) starts format 2 at its first event.
    op.execute(
        f"""
        ALTER TABLE store_identity
            ADD COLUMN chain_format smallint NOT NULL DEFAULT 2 CHECK (chain_format = 2),
            ADD COLUMN chain_format_since bigint NOT NULL DEFAULT {head + 1} CHECK (chain_format_since > 0);
        ALTER TABLE store_identity ALTER COLUMN chain_format_since SET DEFAULT 1;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE store_identity DROP COLUMN chain_format, DROP COLUMN chain_format_since;
        ALTER TABLE events ALTER COLUMN data TYPE jsonb USING data::jsonb,
            ALTER COLUMN metadata TYPE jsonb USING metadata::jsonb;
        """
    )
