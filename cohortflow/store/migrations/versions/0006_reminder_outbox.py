"""The reminder outbox: every message a reminder rule produced, until it is sent or given up.

A row is keyed by its reminder, ``rule/recipient/occurrence``: queueing the same
occurrence again inserts nothing, so a retried activity or a replayed workflow
never produces a second message. The dispatcher claims rows with a lease and
changes their state in the same transaction as the event that records the
change (ReminderSent, ReminderDeliveryFailed, ReminderGaveUp).

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE reminder_outbox (
            reminder text PRIMARY KEY,
            cohort_id text NOT NULL,
            stream_id text NOT NULL,
            rule text NOT NULL,
            occurrence text NOT NULL,
            recipient text NOT NULL,
            participant_id text,
            channel text NOT NULL CHECK (channel IN ('email', 'webhook')),
            address text,
            locale text NOT NULL CHECK (locale IN ('zh', 'en')),
            subject text NOT NULL,
            body text NOT NULL,
            time_zone text NOT NULL,
            quiet_start time,
            quiet_end time,
            status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'gave_up')),
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL,
            claimed_until timestamptz,
            last_error text,
            queued_at timestamptz NOT NULL DEFAULT now(),
            sent_at timestamptz,
            actor text NOT NULL,
            workflow_id text NOT NULL,
            programme_id text NOT NULL,
            programme_version integer NOT NULL
        );
        -- The dispatcher's question: which messages are due (or whose claim lapsed)?
        CREATE INDEX reminder_outbox_due ON reminder_outbox (next_attempt_at) WHERE status IN ('pending', 'sending');
        CREATE INDEX reminder_outbox_gave_up ON reminder_outbox (cohort_id, queued_at) WHERE status = 'gave_up';
        CREATE INDEX reminder_outbox_by_cohort ON reminder_outbox (cohort_id, rule, occurrence);

        -- Where a participant's reminders go (nominations recorded before this carry none).
        ALTER TABLE rm_participants
            ADD COLUMN email text,
            ADD COLUMN phone text,
            ADD COLUMN locale text NOT NULL DEFAULT 'zh';
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE reminder_outbox")
    op.execute("ALTER TABLE rm_participants DROP COLUMN email, DROP COLUMN phone, DROP COLUMN locale")
