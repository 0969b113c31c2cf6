"""The credit bank's read models: the registry of people and the credits recorded outside cohorts.

Projections of the people's streams (``person-{key}``) like every rm_ table:
rebuildable from position zero. A cohort's awards stay in ``rm_credits``; a
person's standing reads both.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE rm_people (
            person_key text PRIMARY KEY,
            name text NOT NULL,
            national_id text NOT NULL,
            post text NOT NULL,
            took_post_on date,
            school text NOT NULL,
            county_code text NOT NULL,
            prefecture_code text NOT NULL,
            school_level text,
            subject text NOT NULL,
            registered_position bigint NOT NULL,
            last_position bigint NOT NULL
        );
        CREATE INDEX rm_people_by_county ON rm_people (county_code, school, person_key);
        CREATE INDEX rm_people_by_prefecture ON rm_people (prefecture_code, person_key);

        CREATE TABLE rm_bank_entries (
            entry_id text PRIMARY KEY,
            person_key text NOT NULL,
            source text NOT NULL,
            title text NOT NULL,
            hours numeric NOT NULL,
            -- A reversal's level, kind, days and earning day are those of the entry it cancels, looked up on
            -- read: here they are empty.
            level text,
            kind text,
            earned_on date,
            days integer,
            off_the_job boolean,
            recorded_by text NOT NULL,
            -- A reversal names what it cancels: a bank entry, or a cohort's award (reverses_cohort).
            reverses text,
            reverses_cohort text,
            reason text NOT NULL DEFAULT '',
            actor text NOT NULL,
            position bigint NOT NULL,
            recorded_at timestamptz NOT NULL
        );
        CREATE INDEX rm_bank_entries_by_person ON rm_bank_entries (person_key, position);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE rm_bank_entries, rm_people")
