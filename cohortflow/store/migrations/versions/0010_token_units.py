"""Tokens for a school and for a district's reviewer: the county (and school) a token acts for.

A school's token records its own staff's credits and submits its list to the annual review; a
district reviewer's decides its county's reviews and recognition claims. Both are bound to a
county (six digits); a school's also to the school's name. Their prefecture (the county's first
four digits and 00) is kept in ``prefecture`` like a coordinator's, so every prefecture-scoped
read keeps them inside it too.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SCOPED = "('coordinator', 'school', 'reviewer')"


def upgrade() -> None:
    op.execute(
        f"""
        ALTER TABLE access_tokens
            DROP CONSTRAINT access_tokens_role_check,
            DROP CONSTRAINT access_tokens_check,
            DROP CONSTRAINT access_tokens_check1,
            ADD COLUMN county text NULL CHECK (county ~ '^[0-9]{{6}}$'),
            ADD COLUMN school text NULL CHECK (length(school) BETWEEN 1 AND 200),
            ADD CONSTRAINT access_tokens_role_check
                CHECK (role IN ('admin', 'coordinator', 'auditor', 'reminder', 'school', 'reviewer')),
            ADD CONSTRAINT access_tokens_scope_prefecture
                CHECK ((role IN {SCOPED}) = (prefecture IS NOT NULL)),
            ADD CONSTRAINT access_tokens_scope_county
                CHECK ((role IN ('school', 'reviewer')) = (county IS NOT NULL)),
            ADD CONSTRAINT access_tokens_scope_school
                CHECK ((role = 'school') = (school IS NOT NULL))
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DELETE FROM access_tokens WHERE role IN ('school', 'reviewer');
        ALTER TABLE access_tokens
            DROP CONSTRAINT access_tokens_scope_school,
            DROP CONSTRAINT access_tokens_scope_county,
            DROP CONSTRAINT access_tokens_scope_prefecture,
            DROP CONSTRAINT access_tokens_role_check,
            DROP COLUMN school,
            DROP COLUMN county,
            ADD CONSTRAINT access_tokens_role_check CHECK (role IN ('admin', 'coordinator', 'auditor', 'reminder')),
            ADD CONSTRAINT access_tokens_check CHECK (role <> 'coordinator' OR prefecture IS NOT NULL),
            ADD CONSTRAINT access_tokens_check1 CHECK (role = 'coordinator' OR prefecture IS NULL)
        """
    )
