"""Every table of the store, defined once: the queries compose with these, and the migrations are checked against them.

The migrations (``migrations/versions``) create the schema; this module says the same shapes as SQLAlchemy Core
``Table``s, and ``tests/store/test_tables.py`` runs Alembic's autogenerate comparison against a migrated database,
so the two cannot drift apart. A change to the schema is a new migration *and* a change here.

Some of what the migrations create is outside what autogenerate compares, and is written here only so the shapes
read whole: CHECK constraints (named as PostgreSQL named them), the ``fillfactor`` of ``rm_participants``, and the
triggers that keep ``events`` and ``store_identity`` append-only (``events_refuse_change``, migrations 0001 and 0002),
which have no Core form at all.
"""

from __future__ import annotations

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    Table,
    Text,
    Time,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSON, JSONB

metadata = MetaData()

NOW = text("now()")
FALSE = text("false")
ZERO = text("0")
EMPTY = text("''::text")


def timestamp(name: str, *, nullable: bool = False, now: bool = False) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable, server_default=NOW if now else None)


def flag(name: str) -> Column[object]:
    """A boolean that starts false."""
    return Column(name, Boolean, nullable=False, server_default=FALSE)


# --- The event store ------------------------------------------------------------------------------------------------

events = Table(
    "events",
    metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("stream_id", Text, nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("type", Text, nullable=False),
    Column("schema_version", SmallInteger, nullable=False),
    # json, not jsonb: the canonical text each event's hash covers, kept byte for byte (chain format 2, 0017).
    Column("data", JSON, nullable=False),
    Column("metadata", JSON, nullable=False),
    timestamp("recorded_at"),
    Column("idempotency_key", Text, nullable=False),
    Column("prev_hash", CHAR(64), nullable=False),
    Column("hash", CHAR(64), nullable=False),
    CheckConstraint("position > 0", name="events_position_positive"),
    CheckConstraint("stream_version > 0", name="events_stream_version_positive"),
    UniqueConstraint("stream_id", "stream_version", name="events_stream_version_unique"),
    UniqueConstraint("idempotency_key", name="events_idempotency_key_unique"),
)
# One participant's events and the cohort's own (the empty key) are one index range (migration 0003).
Index(
    "events_by_participant",
    events.c.stream_id,
    func.coalesce(events.c.data["participant_id"].astext, ""),
)

# Made by PostgreSQL (the secret from its strong random source, so it never appears in a statement: migration 0007).
# Written as PostgreSQL gives it back: a default calling a volatile function is compared as text, not by its value.
NEW_SECRET = text("sha256((uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())))")

store_identity = Table(
    "store_identity",
    metadata,
    Column("singleton", Boolean, primary_key=True, server_default=text("true")),
    Column("store_id", Uuid, nullable=False, server_default=text("gen_random_uuid()")),
    timestamp("created_at", now=True),
    Column("person_key_secret", LargeBinary, nullable=True, server_default=NEW_SECRET),
    # Events from chain_format_since on are hashed as stored; older ones (a store from before 0017) by decoding.
    Column("chain_format", SmallInteger, nullable=False, server_default=text("2")),
    Column("chain_format_since", BigInteger, nullable=False, server_default=text("1")),
    CheckConstraint("singleton", name="store_identity_singleton_check"),
    CheckConstraint("chain_format = 2", name="store_identity_chain_format_check"),
    CheckConstraint("chain_format_since > 0", name="store_identity_chain_format_since_check"),
    CheckConstraint(
        "person_key_secret IS NULL OR octet_length(person_key_secret) = 32",
        name="store_identity_person_key_secret_check",
    ),
)

api_idempotency_keys = Table(
    "api_idempotency_keys",
    metadata,
    Column("scope", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("request_digest", Text, nullable=False),
    timestamp("first_used_at", now=True),
    # A command that is not a Temporal Update: its claim while the first request runs, then its answer (0018).
    Column("claim", Uuid, nullable=True),
    timestamp("claimed_until", nullable=True),
    Column("answer_status", SmallInteger, nullable=True),
    Column("answer_headers", JSONB, nullable=True),
    Column("answer_body", LargeBinary, nullable=True),
)

# --- Who may act: tokens, console accounts and their sessions -------------------------------------------------------

ROLES = "('admin', 'coordinator', 'auditor', 'reminder', 'school', 'reviewer')"
SCOPED = "('coordinator', 'school', 'reviewer')"


def unit_checks(table: str, *, numbered: bool) -> list[CheckConstraint]:
    """The role and unit checks a token and an account share (the scope checks' names differ between the two)."""
    names = (
        [f"{table}_check", f"{table}_check1", f"{table}_check2"]
        if numbered
        else [f"{table}_scope_prefecture", f"{table}_scope_county", f"{table}_scope_school"]
    )
    return [
        CheckConstraint(f"role IN {ROLES}", name=f"{table}_role_check"),
        CheckConstraint("prefecture ~ '^[0-9]{6}$'", name=f"{table}_prefecture_check"),
        CheckConstraint("county ~ '^[0-9]{6}$'", name=f"{table}_county_check"),
        CheckConstraint("length(school) BETWEEN 1 AND 200", name=f"{table}_school_check"),
        CheckConstraint(f"(role IN {SCOPED}) = (prefecture IS NOT NULL)", name=names[0]),
        CheckConstraint("(role IN ('school', 'reviewer')) = (county IS NOT NULL)", name=names[1]),
        CheckConstraint("(role = 'school') = (school IS NOT NULL)", name=names[2]),
    ]


access_tokens = Table(
    "access_tokens",
    metadata,
    Column("token_id", Text, primary_key=True),
    Column("secret_sha256", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("prefecture", Text, nullable=True),
    timestamp("issued_at", now=True),
    Column("issued_by", Text, nullable=False),
    timestamp("revoked_at", nullable=True),
    Column("revoked_by", Text, nullable=True),
    Column("county", Text, nullable=True),
    Column("school", Text, nullable=True),
    UniqueConstraint("secret_sha256", name="access_tokens_secret_sha256_key"),
    CheckConstraint("(revoked_at IS NULL) = (revoked_by IS NULL)", name="access_tokens_check2"),
    *unit_checks("access_tokens", numbered=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("name", Text, primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("prefecture", Text, nullable=True),
    Column("county", Text, nullable=True),
    Column("school", Text, nullable=True),
    timestamp("created_at", now=True),
    Column("created_by", Text, nullable=False),
    timestamp("disabled_at", nullable=True),
    Column("disabled_by", Text, nullable=True),
    CheckConstraint("length(name) BETWEEN 1 AND 100", name="accounts_name_check"),
    *unit_checks("accounts", numbered=True),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("session_sha256", Text, primary_key=True),
    Column("account", Text, ForeignKey("accounts.name", name="console_sessions_account_fkey"), nullable=False),
    Column("csrf", Text, nullable=False),
    timestamp("created_at", now=True),
    timestamp("expires_at"),
    Column("signed_in_by", Text, nullable=False, server_default="password"),
    CheckConstraint("signed_in_by IN ('password', 'oidc')", name="console_sessions_signed_in_by_check"),
    Index("console_sessions_by_account", "account"),
)

# --- Read models (rm_*): projections, rebuildable from position zero ------------------------------------------------

rm_checkpoints = Table(
    "rm_checkpoints",
    metadata,
    Column("projection", Text, primary_key=True),
    Column("position", BigInteger, nullable=False),
    timestamp("updated_at", now=True),
    CheckConstraint("position >= 0", name="rm_checkpoints_position_check"),
)

rm_cohorts = Table(
    "rm_cohorts",
    metadata,
    Column("cohort_id", Text, primary_key=True),
    Column("programme_id", Text, nullable=False),
    Column("programme_version", Integer, nullable=False),
    Column("programme_name", Text, nullable=False),
    Column("programme", JSONB, nullable=False),
    timestamp("started_at"),
    Column("phase", Text),
    Column("phase_state", Text),
    timestamp("deadline", nullable=True),
    flag("completed"),
    Column("selection_digest", Text),
    # The completion criteria, copied out of the pinned programme so the funnel is plain column comparisons.
    Column("online_min_hours", Double, nullable=False),
    Column("required_deliverables", ARRAY(Text), nullable=False),
    Column("min_attendance_ratio", Double, nullable=False),
    Column("events", BigInteger, nullable=False, server_default=ZERO),
    Column("last_position", BigInteger, nullable=False),
    CheckConstraint("phase_state IN ('open', 'closed')", name="rm_cohorts_phase_state_check"),
)

rm_participants = Table(
    "rm_participants",
    metadata,
    Column("cohort_id", Text, primary_key=True),
    Column("participant_id", Text, primary_key=True),
    Column("person_key", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("national_id", Text, nullable=False),
    Column("gender", Text, nullable=False),
    Column("prefecture_code", Text, nullable=False),
    Column("school", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("nominated_position", BigInteger, nullable=False),
    Column("hours", Double, nullable=False, server_default=ZERO),
    Column("deliverables", ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    Column("study_position", BigInteger),
    flag("selected"),
    flag("waiting_list"),
    flag("withdrawn"),
    Column("site", Text),
    Column("batch", Text),
    Column("days_present", Integer, nullable=False, server_default=ZERO),
    Column("days_total", Integer, nullable=False, server_default=ZERO),
    Column("attendance_position", BigInteger),
    flag("return_report"),
    Column("surveys", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    flag("completed"),
    Column("credit_hours", Numeric, nullable=False, server_default=ZERO),
    Column("email", Text),
    Column("phone", Text),
    Column("locale", Text, nullable=False, server_default="zh"),
    Index("rm_participants_by_prefecture", "cohort_id", "prefecture_code"),
    Index("rm_participants_by_person", "person_key"),
    # Room on each page, so re-writing a row can stay a HOT update (not compared by autogenerate).
    postgresql_with={"fillfactor": 80},
)

rm_funnel = Table(
    "rm_funnel",
    metadata,
    Column("cohort_id", Text, primary_key=True),
    Column("prefecture_code", Text, primary_key=True),
    Column("prefecture_name", Text, nullable=False),
    *(
        Column(name, Integer, nullable=False)
        for name in (
            "ordinal",
            "nominated",
            "met_online_requirement",
            "selected",
            "attended_field_study",
            "completed",
            "withdrawn",
        )
    ),
)

# Entry ids are unique within a cohort's ledger only (P000001/online_study recurs in every cohort).
rm_credits = Table(
    "rm_credits",
    metadata,
    Column("cohort_id", Text, primary_key=True),
    Column("entry_id", Text, primary_key=True),
    Column("person_key", Text, nullable=False),
    Column("participant_id", Text, nullable=False),
    Column("programme_id", Text, nullable=False),
    Column("phase", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("hours", Numeric, nullable=False),
    Column("earned_by", ARRAY(BigInteger), nullable=False),
    Column("reverses", Text),
    Column("reason", Text, nullable=False, server_default=EMPTY),
    Column("position", BigInteger, nullable=False),
    timestamp("recorded_at"),
    # A reversal counts in the cycle of the entry it cancels.
    timestamp("counts_at"),
    Index("rm_credits_by_person", "person_key", "position"),
    Index("rm_credits_by_cohort", "cohort_id", "position"),
    Index("rm_credits_reversals", "cohort_id", "reverses", postgresql_where=text("reverses IS NOT NULL")),
)

rm_people = Table(
    "rm_people",
    metadata,
    Column("person_key", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("national_id", Text, nullable=False),
    Column("post", Text, nullable=False),
    Column("took_post_on", Date),
    Column("school", Text, nullable=False),
    Column("county_code", Text, nullable=False),
    Column("prefecture_code", Text, nullable=False),
    Column("school_level", Text),
    Column("subject", Text, nullable=False),
    Column("registered_position", BigInteger, nullable=False),
    Column("last_position", BigInteger, nullable=False),
    Index("rm_people_by_county", "county_code", "school", "person_key"),
    Index("rm_people_by_prefecture", "prefecture_code", "person_key"),
)
# A search by part of a name (pg_trgm, migration 0012) and by a masked ID number's two ends (migration 0013).
Index("rm_people_by_name", rm_people.c.name, postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"})
Index("rm_people_by_id_ends", func.left(rm_people.c.national_id, 6), func.right(rm_people.c.national_id, 1))

rm_bank_entries = Table(
    "rm_bank_entries",
    metadata,
    Column("entry_id", Text, primary_key=True),
    Column("person_key", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("hours", Numeric, nullable=False),
    # A reversal's level, kind, days and earning day are those of the entry it cancels, looked up on read.
    Column("level", Text),
    Column("kind", Text),
    Column("earned_on", Date),
    Column("days", Integer),
    Column("off_the_job", Boolean),
    Column("recorded_by", Text, nullable=False),
    # A reversal names what it cancels: a bank entry, or a cohort's award (reverses_cohort).
    Column("reverses", Text),
    Column("reverses_cohort", Text),
    Column("reason", Text, nullable=False, server_default=EMPTY),
    Column("actor", Text, nullable=False),
    Column("position", BigInteger, nullable=False),
    timestamp("recorded_at"),
    Index("rm_bank_entries_by_person", "person_key", "position"),
)

# --- The reminder outbox --------------------------------------------------------------------------------------------

reminder_outbox = Table(
    "reminder_outbox",
    metadata,
    Column("reminder", Text, primary_key=True),
    Column("cohort_id", Text, nullable=False),
    Column("stream_id", Text, nullable=False),
    Column("rule", Text, nullable=False),
    Column("occurrence", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("participant_id", Text),
    Column("channel", Text, nullable=False),
    Column("address", Text),
    Column("locale", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("time_zone", Text, nullable=False),
    Column("quiet_start", Time),
    Column("quiet_end", Time),
    Column("status", Text, nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default=ZERO),
    timestamp("next_attempt_at"),
    timestamp("claimed_until", nullable=True),
    Column("last_error", Text),
    timestamp("queued_at", now=True),
    timestamp("sent_at", nullable=True),
    Column("actor", Text, nullable=False),
    Column("workflow_id", Text, nullable=False),
    Column("programme_id", Text, nullable=False),
    Column("programme_version", Integer, nullable=False),
    CheckConstraint("channel IN ('email', 'webhook')", name="reminder_outbox_channel_check"),
    CheckConstraint("locale IN ('zh', 'en')", name="reminder_outbox_locale_check"),
    CheckConstraint("status IN ('pending', 'sending', 'sent', 'gave_up')", name="reminder_outbox_status_check"),
    # The dispatcher's question: which messages are due (or whose claim lapsed)?
    Index("reminder_outbox_due", "next_attempt_at", postgresql_where=text("status IN ('pending', 'sending')")),
    Index("reminder_outbox_gave_up", "cohort_id", "queued_at", postgresql_where=text("status = 'gave_up'")),
    Index("reminder_outbox_by_cohort", "cohort_id", "rule", "occurrence"),
)
# The console's reminders page reads newest first (migration 0016).
Index("reminder_outbox_latest", reminder_outbox.c.queued_at.desc(), reminder_outbox.c.reminder.desc())
