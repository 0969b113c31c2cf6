"""Read models (rm_*): projections of the event store, rebuildable from position zero.

The projector writes these tables and its checkpoint in one transaction, so a
reader never sees a batch half applied and a crash never applies one twice.
Nothing here is a source of truth: dropping every rm_ table loses nothing.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE rm_checkpoints (
            projection text PRIMARY KEY,
            position bigint NOT NULL CHECK (position >= 0),
            updated_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE rm_cohorts (
            cohort_id text PRIMARY KEY,
            programme_id text NOT NULL,
            programme_version integer NOT NULL,
            programme_name text NOT NULL,
            programme jsonb NOT NULL,
            started_at timestamptz NOT NULL,
            phase text,
            phase_state text CHECK (phase_state IN ('open', 'closed')),
            deadline timestamptz,
            completed boolean NOT NULL DEFAULT false,
            selection_digest text,
            -- The completion criteria, copied out of the pinned programme so the
            -- funnel is computed by plain column comparisons.
            online_min_hours double precision NOT NULL,
            required_deliverables text[] NOT NULL,
            min_attendance_ratio double precision NOT NULL,
            events bigint NOT NULL DEFAULT 0,
            last_position bigint NOT NULL
        );

        CREATE TABLE rm_participants (
            cohort_id text NOT NULL,
            participant_id text NOT NULL,
            person_key text NOT NULL,
            name text NOT NULL,
            national_id text NOT NULL,
            gender text NOT NULL,
            prefecture_code text NOT NULL,
            school text NOT NULL,
            role text NOT NULL,
            nominated_position bigint NOT NULL,
            hours double precision NOT NULL DEFAULT 0,
            deliverables text[] NOT NULL DEFAULT '{}',
            study_position bigint,
            selected boolean NOT NULL DEFAULT false,
            waiting_list boolean NOT NULL DEFAULT false,
            withdrawn boolean NOT NULL DEFAULT false,
            site text,
            batch text,
            days_present integer NOT NULL DEFAULT 0,
            days_total integer NOT NULL DEFAULT 0,
            attendance_position bigint,
            return_report boolean NOT NULL DEFAULT false,
            surveys jsonb NOT NULL DEFAULT '{}',
            completed boolean NOT NULL DEFAULT false,
            credit_hours numeric NOT NULL DEFAULT 0,
            PRIMARY KEY (cohort_id, participant_id)
        ) WITH (fillfactor = 80);  -- room on each page, so re-writing a row can stay a HOT update
        CREATE INDEX rm_participants_by_prefecture ON rm_participants (cohort_id, prefecture_code);

        CREATE TABLE rm_funnel (
            cohort_id text NOT NULL,
            prefecture_code text NOT NULL,
            prefecture_name text NOT NULL,
            ordinal integer NOT NULL,
            nominated integer NOT NULL,
            met_online_requirement integer NOT NULL,
            selected integer NOT NULL,
            attended_field_study integer NOT NULL,
            completed integer NOT NULL,
            withdrawn integer NOT NULL,
            PRIMARY KEY (cohort_id, prefecture_code)
        );

        -- Entry ids are unique within a cohort's ledger only (P000001/online_study
        -- recurs in every cohort), hence the composite key.
        CREATE TABLE rm_credits (
            cohort_id text NOT NULL,
            entry_id text NOT NULL,
            person_key text NOT NULL,
            participant_id text NOT NULL,
            programme_id text NOT NULL,
            phase text NOT NULL,
            level text NOT NULL,
            hours numeric NOT NULL,
            earned_by bigint[] NOT NULL,
            reverses text,
            reason text NOT NULL DEFAULT '',
            position bigint NOT NULL,
            recorded_at timestamptz NOT NULL,
            -- A reversal counts in the cycle of the entry it cancels.
            counts_at timestamptz NOT NULL,
            PRIMARY KEY (cohort_id, entry_id)
        );
        CREATE INDEX rm_credits_by_person ON rm_credits (person_key, position);
        CREATE INDEX rm_credits_by_cohort ON rm_credits (cohort_id, position);
        CREATE INDEX rm_credits_reversals ON rm_credits (cohort_id, reverses) WHERE reverses IS NOT NULL;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE rm_credits, rm_funnel, rm_participants, rm_cohorts, rm_checkpoints")
