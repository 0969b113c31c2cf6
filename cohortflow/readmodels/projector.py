"""The projector: folds the event log into the rm_ tables, batch by batch.

Each batch of events is applied and the checkpoint moved in one transaction, so
the tables always equal a fold of the log up to the checkpoint, whatever
crashes. A transaction-scoped advisory lock keeps concurrent callers (several
API workers catching up on request) from applying the same batch twice; a
caller that finds it taken returns at once, since someone else is projecting.
Events are read before the batch's transaction begins (the log after a position
never changes, and appends commit in position order) and the checkpoint is
checked again under the lock, so the projector needs one connection at a time.

Every event is decoded once, through :func:`cohortflow.domain.decoding.decode`
like every other reader of the log. Within a batch the participants it touches
are read once, folded in memory by the domain's own participant fold
(:meth:`cohortflow.domain.facts.ParticipantFacts.apply`), and written back
with one COPY and one upsert: per-event UPDATEs would be thousands of round
trips per batch. The funnel of every cohort the batch touched is then recounted
from ``rm_participants`` with the completion rules of
:mod:`cohortflow.domain.completion`, written as SQL (:data:`MET_ONLINE_SQL`,
:data:`ATTENDED_SQL`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from cohortflow.domain.cohort_stream import COHORT_STREAM_PREFIX
from cohortflow.domain.decoding import decode
from cohortflow.domain.events import (
    BlockClosed,
    BlockExtended,
    BlockOpened,
    CandidateNominated,
    CohortCompleted,
    CohortStarted,
    CreditAwarded,
    CreditReversed,
    DeadlineExtended,
    Event,
    ParticipantCompleted,
    ParticipantWithdrawn,
    PhaseClosed,
    PhaseOpened,
    SelectionDecided,
    SubmissionRecorded,
    WaitingListPromoted,
)
from cohortflow.domain.facts import ParticipantFacts
from cohortflow.domain.programme import Programme
from cohortflow.domain.template import ProgrammeTemplate, pinned
from cohortflow.readmodels.bank_projection import TABLES as BANK_TABLES
from cohortflow.readmodels.bank_projection import project_bank
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import StoredEvent

PROJECTION = "read_models"
PROJECTOR_LOCK = 0x726D5F70726F6A  # "rm_proj": not the append lock, so appends never wait for projection
BATCH_SIZE = 5_000
# Events that can move a funnel count; a batch of credits or surveys leaves the funnel as it is.
FUNNEL_TYPES = frozenset(
    {
        "CohortStarted",
        "CandidateNominated",
        "OnlineStudyRecorded",
        "StudyHoursRecorded",
        "DeliverableSubmitted",
        "FactCorrected",
        "SelectionDecided",
        "WaitingListPromoted",
        "ParticipantWithdrawn",
        "FieldAttendanceRecorded",
        "ParticipantCompleted",
    }
)
TABLES = ("rm_credits", "rm_funnel", "rm_participants", "rm_cohorts", *BANK_TABLES)

# The completion rules of cohortflow.domain.completion over rm_participants p joined to rm_cohorts c.
MET_ONLINE_SQL = (
    "(p.study_position IS NOT NULL AND p.hours >= c.online_min_hours AND p.deliverables @> c.required_deliverables)"
)
ATTENDED_SQL = (
    "(p.selected AND p.attendance_position IS NOT NULL AND p.days_total <> 0"
    " AND p.days_present::float8 / p.days_total >= c.min_attendance_ratio)"
)

log = structlog.get_logger()
Conn = AsyncConnection[TupleRow]
Decoded = tuple[StoredEvent, Event]
"""A cohort event as stored (its position, stream, time) and as decoded, once, into its typed model."""


PARTICIPANT_COLUMNS = (
    "cohort_id",
    "participant_id",
    "person_key",
    "name",
    "national_id",
    "gender",
    "prefecture_code",
    "school",
    "role",
    "nominated_position",
    "hours",
    "deliverables",
    "study_position",
    "selected",
    "waiting_list",
    "withdrawn",
    "site",
    "batch",
    "days_present",
    "days_total",
    "attendance_position",
    "return_report",
    "surveys",
    "completed",
    "credit_hours",
    "email",
    "phone",
    "locale",
)
REPORTED = 0
"""The row keeps only whether a return report came in, not its position: a loaded row's stands in for it."""


@dataclass(slots=True)
class ParticipantState:
    """One row of rm_participants: the participant's facts, folded by the domain's own rules, and what only the
    read model keeps (contact details, the selection flags, credits, completion)."""

    cohort_id: str
    facts: ParticipantFacts
    national_id: str
    gender: str
    selected: bool = False
    waiting_list: bool = False
    completed: bool = False
    credit_hours: Decimal = Decimal(0)
    email: str | None = None
    phone: str | None = None
    locale: str = "zh"

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> ParticipantState:
        r = dict(zip(PARTICIPANT_COLUMNS, row, strict=True))
        facts = ParticipantFacts(
            participant_id=r["participant_id"],
            person_key=r["person_key"],
            prefecture_code=r["prefecture_code"],
            nominated_at=r["nominated_position"],
            name=r["name"],
            school=r["school"],
            role=r["role"],
            hours=r["hours"],
            deliverables=tuple(r["deliverables"]),
            study_position=r["study_position"],
            withdrawn=r["withdrawn"],
            site=r["site"],
            batch=r["batch"],
            days_present=r["days_present"],
            days_total=r["days_total"],
            attendance_position=r["attendance_position"],
            return_report_position=REPORTED if r["return_report"] else None,
            surveys=r["surveys"],
        )
        return cls(
            cohort_id=r["cohort_id"],
            facts=facts,
            national_id=r["national_id"],
            gender=r["gender"],
            selected=r["selected"],
            waiting_list=r["waiting_list"],
            completed=r["completed"],
            credit_hours=r["credit_hours"],
            email=r["email"],
            phone=r["phone"],
            locale=r["locale"],
        )

    def row(self) -> tuple[Any, ...]:
        # Spelled out: dataclasses.astuple deep-copies every list and dict, for every row.
        f = self.facts
        return (
            self.cohort_id,
            f.participant_id,
            f.person_key,
            f.name,
            self.national_id,
            self.gender,
            f.prefecture_code,
            f.school,
            f.role,
            f.nominated_at,
            f.hours,
            _text_array(f.deliverables),
            f.study_position,
            self.selected,
            self.waiting_list,
            f.withdrawn,
            f.site,
            f.batch,
            f.days_present,
            f.days_total,
            f.attendance_position,
            f.return_report_position is not None,
            json.dumps(f.surveys),
            self.completed,
            self.credit_hours,
            self.email,
            self.phone,
            self.locale,
        )


@dataclass(slots=True)
class CohortState:
    """One row of rm_cohorts, in column order."""

    cohort_id: str
    programme_id: str
    programme_version: int
    programme_name: str
    programme: dict[str, Any]
    started_at: datetime
    phase: str | None
    phase_state: str | None
    deadline: datetime | None
    completed: bool
    selection_digest: str | None
    online_min_hours: float
    required_deliverables: list[str]
    min_attendance_ratio: float
    events: int
    last_position: int

    def row(self) -> tuple[Any, ...]:
        values = tuple(getattr(self, name) for name in COHORT_COLUMNS)
        return (*values[:4], Jsonb(self.programme), *values[5:])


COHORT_COLUMNS = tuple(f.name for f in dataclasses.fields(CohortState))
CREDIT_COLUMNS = (
    "cohort_id",
    "entry_id",
    "person_key",
    "participant_id",
    "programme_id",
    "phase",
    "level",
    "hours",
    "earned_by",
    "reverses",
    "reason",
    "position",
    "recorded_at",
    "counts_at",
)


def _text_array(items: Sequence[str]) -> str:
    """A text[] literal: every element quoted, so commas, braces and spaces in codes are safe."""
    quoted = ('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items)
    return "{" + ",".join(quoted) + "}"


def _upsert(
    table: str, columns: tuple[str, ...], key: tuple[str, ...], source: str, casts: dict[str, str] | None = None
) -> str:
    names = ", ".join(columns)
    values = ", ".join(f"{c}::{casts[c]}" if casts and c in casts else c for c in columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({names}) SELECT {values} FROM {source} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


UPSERT_PARTICIPANTS = _upsert(
    "rm_participants",
    PARTICIPANT_COLUMNS,
    ("cohort_id", "participant_id"),
    "rm_batch_p",
    {"deliverables": "text[]", "surveys": "jsonb"},
)
UPSERT_COHORTS = _upsert("rm_cohorts", COHORT_COLUMNS, ("cohort_id",), "rm_batch_c")
# A reversal counts against the level, phase and cycle of the entry it cancels (as in the ledger);
# awards go in first so that one reversed within the same batch is found.
INSERT_AWARDS = (
    f"INSERT INTO rm_credits ({', '.join(CREDIT_COLUMNS)}) "
    f"SELECT {', '.join(CREDIT_COLUMNS)} FROM rm_batch_credits WHERE reverses IS NULL"
)
INSERT_REVERSALS = (
    f"INSERT INTO rm_credits ({', '.join(CREDIT_COLUMNS)}) "
    "SELECT b.cohort_id, b.entry_id, b.person_key, b.participant_id, b.programme_id, "
    "coalesce(o.phase, ''), coalesce(o.level, ''), b.hours, b.earned_by, b.reverses, b.reason, b.position, "
    "b.recorded_at, coalesce(o.counts_at, b.recorded_at) "
    "FROM rm_batch_credits b LEFT JOIN rm_credits o ON o.cohort_id = b.cohort_id AND o.entry_id = b.reverses "
    "WHERE b.reverses IS NOT NULL"
)
RECOUNT_FUNNEL = f"""
WITH counts AS (
    SELECT p.cohort_id, p.prefecture_code,
           count(*) AS nominated,
           count(*) FILTER (WHERE {MET_ONLINE_SQL}) AS met_online_requirement,
           count(*) FILTER (WHERE p.selected) AS selected,
           count(*) FILTER (WHERE {ATTENDED_SQL}) AS attended_field_study,
           count(*) FILTER (WHERE p.completed) AS completed,
           count(*) FILTER (WHERE p.withdrawn) AS withdrawn
    FROM rm_participants p JOIN rm_cohorts c ON c.cohort_id = p.cohort_id
    WHERE p.cohort_id = ANY(%(cohorts)s)
    GROUP BY p.cohort_id, p.prefecture_code
)
INSERT INTO rm_funnel (cohort_id, prefecture_code, prefecture_name, ordinal, nominated, met_online_requirement,
                       selected, attended_field_study, completed, withdrawn)
SELECT c.cohort_id, pf.value->>'code', pf.value->>'name', pf.ordinal, coalesce(k.nominated, 0),
       coalesce(k.met_online_requirement, 0), coalesce(k.selected, 0), coalesce(k.attended_field_study, 0),
       coalesce(k.completed, 0), coalesce(k.withdrawn, 0)
FROM rm_cohorts c
CROSS JOIN LATERAL jsonb_array_elements(c.programme->'prefectures') WITH ORDINALITY AS pf(value, ordinal)
LEFT JOIN counts k ON k.cohort_id = c.cohort_id AND k.prefecture_code = pf.value->>'code'
WHERE c.cohort_id = ANY(%(cohorts)s)
"""
# One scan of the cohort's rows grouped by prefecture: a join per prefecture sorted 50,000 rows on disk.
# Batch tables: the array and JSON columns travel as text, which psycopg's COPY writes several times
# faster than it dumps lists and dicts.
CREATE_BATCH_TABLES = """
CREATE TEMP TABLE rm_batch_p (LIKE rm_participants) ON COMMIT DROP;
ALTER TABLE rm_batch_p ALTER deliverables DROP DEFAULT, ALTER surveys DROP DEFAULT;
ALTER TABLE rm_batch_p ALTER deliverables TYPE text, ALTER surveys TYPE text;
CREATE TEMP TABLE rm_batch_c (LIKE rm_cohorts) ON COMMIT DROP;
CREATE TEMP TABLE rm_batch_credits (LIKE rm_credits) ON COMMIT DROP
"""


class _Batch:
    """What one batch changes, folded in memory before it is written."""

    def __init__(self) -> None:
        self.participants: dict[tuple[str, str], ParticipantState] = {}
        self.dirty: set[tuple[str, str]] = set()
        self.cohorts: dict[str, CohortState] = {}
        self.touched: set[str] = set()
        self.recount: set[str] = set()
        self.credits: list[tuple[Any, ...]] = []


class Projector:
    """Keeps the rm_ tables up to date with the event log."""

    def __init__(
        self,
        store: EventStore,
        *,
        batch_size: int = BATCH_SIZE,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        """``on_batch(events_applied_so_far, checkpoint)`` is called after each committed batch."""
        self.store = store
        self.pool = store.pool
        self.batch_size = batch_size
        self.on_batch = on_batch

    async def checkpoint(self) -> int:
        async with self.pool.connection() as conn:
            return await _checkpoint(conn)

    async def catch_up(self, *, wait: bool = False) -> int:
        """Project every event recorded so far; returns how many this call applied.

        Returns 0 at once if another caller is projecting (it will get there),
        unless ``wait``, which queues behind it instead.
        """
        target = (await self.store.head()).position  # a steady stream of appends cannot keep us here forever
        applied = 0
        started = time.perf_counter()
        while True:
            if not wait and not await self._lock_free():
                break  # don't read a batch only to find someone else applying it
            after = await self.checkpoint()
            if after >= target:
                break
            # Read before taking a connection for the batch: the projector never holds two
            # connections at once, so it works (and cannot starve itself) with a pool of one.
            events = [e async for e in self.store.read_all(after_position=after, limit=self.batch_size)]
            if not events:
                break
            async with self.pool.connection() as conn, conn.transaction():
                if not await _lock(conn, wait):
                    break
                if await _checkpoint(conn) != after:
                    continue  # another caller applied these meanwhile; read on from where it got
                await self._apply(conn, events)
                await _set_checkpoint(conn, events[-1].position)
            applied += len(events)
            if self.on_batch is not None:
                self.on_batch(applied, events[-1].position)
        if applied:
            elapsed = time.perf_counter() - started
            log.info("read models caught up", events=applied, seconds=round(elapsed, 2))
        return applied

    async def _lock_free(self) -> bool:
        async with self.pool.connection() as conn, conn.transaction():
            return await _lock(conn, wait=False)

    async def rebuild(self) -> int:
        """Empty the rm_ tables and project the whole log again from position zero.

        Readers see the tables fill up again while it runs; the checkpoint says
        how far they are.
        """
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (PROJECTOR_LOCK,))
            await conn.execute(f"TRUNCATE {', '.join(TABLES)}")
            await conn.execute("DELETE FROM rm_checkpoints WHERE projection = %s", (PROJECTION,))
        return await self.catch_up(wait=True)

    async def _apply(self, conn: Conn, events: list[StoredEvent]) -> None:
        await conn.execute(CREATE_BATCH_TABLES)
        batch = _Batch()
        segment: list[Decoded] = []
        for stored in events:
            if not stored.stream_id.startswith(COHORT_STREAM_PREFIX):
                continue
            event = decode(stored.type, stored.schema_version, stored.data)
            if isinstance(event, SelectionDecided):
                # Selection rewrites every participant of the cohort: fold and write what came
                # before it, then let one UPDATE do the whole cohort.
                await self._fold(conn, batch, segment)
                segment = []
                await self._write_participants(conn, batch)
                await self._select(conn, batch, stored, event)
            else:
                segment.append((stored, event))
        await self._fold(conn, batch, segment)
        await self._write_participants(conn, batch)
        await self._write_cohorts(conn, batch)
        await self._write_credits(conn, batch)
        await self._recount_funnel(conn, sorted(batch.recount))
        await project_bank(conn, events)

    async def _recount_funnel(self, conn: Conn, cohorts: list[str]) -> None:
        if cohorts:
            await conn.execute("DELETE FROM rm_funnel WHERE cohort_id = ANY(%s)", (cohorts,))
            await conn.execute(RECOUNT_FUNNEL, {"cohorts": cohorts})

    async def _load(self, conn: Conn, batch: _Batch, events: Iterable[Decoded]) -> None:
        """Read the rows these events change and the batch does not hold yet, in two queries."""
        cohorts: set[str] = set()
        keys: set[tuple[str, str]] = set()
        fresh: set[tuple[str, str]] = set()
        for stored, event in events:
            cohort_id = stored.stream_id[len(COHORT_STREAM_PREFIX) :]
            if cohort_id not in batch.cohorts:
                cohorts.add(cohort_id)
            pid = getattr(event, "participant_id", None)
            if pid is None:
                continue
            key = (cohort_id, pid)
            if key in batch.participants or key in fresh:
                continue
            if isinstance(event, CandidateNominated):
                fresh.add(key)  # a nomination writes the whole row: nothing to read
            else:
                keys.add(key)
        if cohorts:
            cur = await conn.execute(
                f"SELECT {', '.join(COHORT_COLUMNS)} FROM rm_cohorts WHERE cohort_id = ANY(%s)", (list(cohorts),)
            )
            for row in await cur.fetchall():
                batch.cohorts[row[0]] = CohortState(*row)
        by_cohort: dict[str, list[str]] = {}
        for cohort_id, pid in keys:
            by_cohort.setdefault(cohort_id, []).append(pid)
        for cohort_id, pids in by_cohort.items():
            # One cohort at a time: a join against all keys hashed the whole table, every cohort's rows.
            cur = await conn.execute(
                f"SELECT {', '.join(PARTICIPANT_COLUMNS)} FROM rm_participants "
                "WHERE cohort_id = %s AND participant_id = ANY(%s)",
                (cohort_id, pids),
            )
            for row in await cur.fetchall():
                batch.participants[(row[0], row[1])] = ParticipantState.from_row(row)

    async def _fold(self, conn: Conn, batch: _Batch, events: list[Decoded]) -> None:
        if not events:
            return
        await self._load(conn, batch, events)
        for stored, event in events:
            cohort_id = stored.stream_id[len(COHORT_STREAM_PREFIX) :]
            batch.touched.add(cohort_id)
            if stored.type in FUNNEL_TYPES:
                batch.recount.add(cohort_id)
            if isinstance(event, CohortStarted):
                batch.cohorts[cohort_id] = _started(cohort_id, event, stored.position)
            cohort = batch.cohorts.get(cohort_id)
            if cohort is not None:
                cohort.events += 1
                cohort.last_position = stored.position
                _apply_to_cohort(cohort, event)
            pid = getattr(event, "participant_id", None)
            if pid is None:
                continue
            key = (cohort_id, pid)
            if isinstance(event, CandidateNominated):
                batch.participants[key] = _nominated(cohort_id, event, stored.position)
                batch.dirty.add(key)
                continue
            if isinstance(event, CreditAwarded | CreditReversed):
                batch.credits.append(_credit_row(cohort_id, cohort, stored, event))
            p = batch.participants.get(key)
            if p is None:
                continue  # about someone never nominated: the fold ignores it too
            if _apply_to_participant(p, event, stored.position):
                batch.dirty.add(key)

    async def _select(self, conn: Conn, batch: _Batch, stored: StoredEvent, event: SelectionDecided) -> None:
        cohort_id = stored.stream_id[len(COHORT_STREAM_PREFIX) :]
        await self._load(conn, batch, [(stored, event)])
        batch.touched.add(cohort_id)
        batch.recount.add(cohort_id)
        cohort = batch.cohorts.get(cohort_id)
        if cohort is not None:
            cohort.events += 1
            cohort.last_position = stored.position
            cohort.selection_digest = event.input_digest
        selected, waiting = list(event.selected), list(event.waiting_list)
        # A block template decides each track on its own: only the people it names change.
        per_track = event.track is not None
        scope = " AND (participant_id = ANY(%(selected)s) OR participant_id = ANY(%(waiting)s))" if per_track else ""
        await conn.execute(
            "UPDATE rm_participants SET selected = participant_id = ANY(%(selected)s), "
            "waiting_list = participant_id = ANY(%(waiting)s) WHERE cohort_id = %(cohort)s" + scope,
            {"selected": selected, "waiting": waiting, "cohort": cohort_id},
        )
        chosen, listed = set(selected), set(waiting)
        for (cid, pid), p in batch.participants.items():
            if cid == cohort_id and (not per_track or pid in chosen or pid in listed):
                # rows held in memory must agree with what was just written
                p.selected, p.waiting_list = pid in chosen, pid in listed

    async def _write_participants(self, conn: Conn, batch: _Batch) -> None:
        if not batch.dirty:
            return
        await _copy(conn, "rm_batch_p", PARTICIPANT_COLUMNS, (batch.participants[k].row() for k in batch.dirty))
        await conn.execute(UPSERT_PARTICIPANTS)
        batch.dirty.clear()

    async def _write_cohorts(self, conn: Conn, batch: _Batch) -> None:
        rows = [c.row() for cid, c in batch.cohorts.items() if cid in batch.touched]
        if rows:
            await _copy(conn, "rm_batch_c", COHORT_COLUMNS, rows)
            await conn.execute(UPSERT_COHORTS)

    async def _write_credits(self, conn: Conn, batch: _Batch) -> None:
        if batch.credits:
            await _copy(conn, "rm_batch_credits", CREDIT_COLUMNS, batch.credits)
            await conn.execute(INSERT_AWARDS)
            await conn.execute(INSERT_REVERSALS)


async def _copy(conn: Conn, table: str, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> None:
    await conn.execute(f"TRUNCATE {table}")
    async with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            await copy.write_row(row)


async def _lock(conn: Conn, wait: bool) -> bool:
    """Take the projector's lock until the end of the transaction; False if another holds it."""
    if wait:
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (PROJECTOR_LOCK,))
        return True
    row = await (await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (PROJECTOR_LOCK,))).fetchone()
    return row is not None and row[0] is True


async def _checkpoint(conn: Conn) -> int:
    cur = await conn.execute("SELECT position FROM rm_checkpoints WHERE projection = %s", (PROJECTION,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _set_checkpoint(conn: Conn, position: int) -> None:
    await conn.execute(
        "INSERT INTO rm_checkpoints (projection, position) VALUES (%s, %s) "
        "ON CONFLICT (projection) DO UPDATE SET position = EXCLUDED.position, updated_at = now()",
        (PROJECTION, position),
    )


def _started(cohort_id: str, event: CohortStarted, position: int) -> CohortState:
    programme = pinned(event.programme)
    # The seven-phase form's eligibility settings; a block template's blocks each keep their own.
    online = None if isinstance(programme, ProgrammeTemplate) else programme.online
    return CohortState(
        cohort_id=cohort_id,
        programme_id=programme.id,
        programme_version=programme.version,
        programme_name=programme.name,
        programme=event.programme,
        started_at=event.started_at,
        phase=None,
        phase_state=None,
        deadline=None,
        completed=False,
        selection_digest=None,
        online_min_hours=online.min_hours if online else 0.0,
        required_deliverables=list(online.required_deliverables) if online else [],
        min_attendance_ratio=programme.field_study.min_attendance_ratio if isinstance(programme, Programme) else 0.0,
        events=0,
        last_position=position,
    )


def _apply_to_cohort(c: CohortState, event: Event) -> None:
    match event:
        case PhaseOpened():
            c.phase, c.phase_state, c.deadline = event.phase, "open", event.deadline
        case PhaseClosed():
            c.phase, c.phase_state = event.phase, "closed"
        case BlockOpened():  # in a block template, the block opened last stands for where the cohort is
            c.phase, c.phase_state, c.deadline = event.block, "open", event.closes_at
        case BlockClosed() if event.block == c.phase:
            c.phase_state = "closed"
        case DeadlineExtended() if event.phase == c.phase:
            c.deadline = event.new_deadline
        case BlockExtended() if event.block == c.phase:
            c.deadline = event.new_close
        case CohortCompleted():
            c.completed = True


def _nominated(cohort_id: str, event: CandidateNominated, position: int) -> ParticipantState:
    return ParticipantState(
        cohort_id=cohort_id,
        facts=ParticipantFacts.nominated(event, position),
        national_id=event.national_id,
        gender=event.gender,
        email=event.email,
        phone=event.phone,
        locale=event.locale,
    )


def _apply_to_participant(p: ParticipantState, event: Event, position: int) -> bool:
    """The participant's own records by :meth:`ParticipantFacts.apply`; the row's own columns here. True when the
    row changed."""
    match event:
        case WaitingListPromoted():
            p.waiting_list, p.selected = False, True
        case ParticipantWithdrawn():
            p.facts.withdrawn, p.selected, p.waiting_list = True, False, False
        case CreditAwarded() | CreditReversed():
            p.credit_hours += Decimal(str(event.hours))
        case ParticipantCompleted():
            p.completed = True
        case SubmissionRecorded():
            return False  # a block's records have no column here (see cohortflow.readmodels.cohort_facts)
        case _:
            return p.facts.apply(event, position)
    return True


def _credit_row(
    cohort_id: str, cohort: CohortState | None, stored: StoredEvent, event: CreditAwarded | CreditReversed
) -> tuple[Any, ...]:
    programme_id = cohort.programme_id if cohort is not None else str(stored.metadata.get("programme_id", ""))
    if isinstance(event, CreditAwarded):
        kind: tuple[Any, ...] = (event.phase, event.level, Decimal(str(event.hours)), list(event.earned_by), None, "")
    else:
        kind = ("", "", Decimal(str(event.hours)), [], event.reverses, event.reason)
    return (
        cohort_id,
        event.entry_id,
        event.person_key,
        event.participant_id,
        programme_id,
        *kind,
        stored.position,
        stored.recorded_at,
        # The cycle an award counts in is the one its hours were earned in (a block's close), when it says so; a
        # reversal's is replaced by the cancelled entry's when it is inserted.
        (event.earned_at if isinstance(event, CreditAwarded) else None) or stored.recorded_at,
    )
