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
:mod:`cohortflow.domain.completion`, written as SQL conditions (:func:`met_online`,
:func:`attended`) that the participant reads show as well.
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
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Double,
    FromClause,
    Table,
    TableClause,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    column,
    delete,
    func,
    insert,
    or_,
    select,
    table,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.types import TypeEngine

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
from cohortflow.store import tables as t
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import StoredEvent
from cohortflow.store.sql import Statement, execute

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
TABLES = (t.rm_credits.name, t.rm_funnel.name, t.rm_participants.name, t.rm_cohorts.name, *BANK_TABLES)

P = t.rm_participants.alias("p")
C = t.rm_cohorts.alias("c")


def met_online(p: FromClause, c: FromClause) -> ColumnElement[bool]:
    """Completion's online requirement (cohortflow.domain.completion) over participant row p of cohort row c."""
    return and_(
        p.c.study_position.is_not(None),
        p.c.hours >= c.c.online_min_hours,
        p.c.deliverables.contains(c.c.required_deliverables),
    )


def attended(p: FromClause, c: FromClause) -> ColumnElement[bool]:
    """Completion's field-study attendance (cohortflow.domain.completion) over participant row p of cohort row c."""
    return and_(
        p.c.selected,
        p.c.attendance_position.is_not(None),
        p.c.days_total != 0,
        # float8 / integer, as PostgreSQL divides them (SQLAlchemy's "/" would make the integer numeric first)
        cast(p.c.days_present, Double).op("/", return_type=Double())(p.c.days_total) >= c.c.min_attendance_ratio,
    )


log = structlog.get_logger()
Conn = AsyncConnection[TupleRow]
Decoded = tuple[StoredEvent, Event]
"""A cohort event as stored (its position, stream, time) and as decoded, once, into its typed model."""


# Spelled out, in the order the rows below are built in: the table's own column order may change.
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
# Spelled out, in the order the rows below are built in: the table's own column order may change.
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


# Batch tables: the array and JSON columns travel as text, which psycopg's COPY writes several times faster than it
# dumps lists and dicts. Temporary, made by CREATE_BATCH_TABLES in each batch's transaction.
BATCH_PARTICIPANTS = table("rm_batch_p", *(column(name) for name in PARTICIPANT_COLUMNS))
BATCH_COHORTS = table("rm_batch_c", *(column(name) for name in COHORT_COLUMNS))
BATCH_CREDITS = table("rm_batch_credits", *(column(name) for name in CREDIT_COLUMNS))
# No Core form for CREATE TABLE ... (LIKE ...): written out, with the names of the tables above.
CREATE_BATCH_TABLES = f"""
CREATE TEMP TABLE {BATCH_PARTICIPANTS.name} (LIKE {t.rm_participants.name}) ON COMMIT DROP;
ALTER TABLE {BATCH_PARTICIPANTS.name} ALTER deliverables DROP DEFAULT, ALTER surveys DROP DEFAULT;
ALTER TABLE {BATCH_PARTICIPANTS.name} ALTER deliverables TYPE text, ALTER surveys TYPE text;
CREATE TEMP TABLE {BATCH_COHORTS.name} (LIKE {t.rm_cohorts.name}) ON COMMIT DROP;
CREATE TEMP TABLE {BATCH_CREDITS.name} (LIKE {t.rm_credits.name}) ON COMMIT DROP
"""


def _upsert(
    target: Table, source: TableClause, key: tuple[str, ...], casts: dict[str, TypeEngine[Any]] | None = None
) -> Statement:
    """Every row of the batch table into the read model, a row already there replaced."""
    names = tuple(source.c.keys())
    values = [cast(source.c[n], casts[n]) if casts and n in casts else source.c[n] for n in names]
    insert = upsert(target).from_select(names, select(*values))
    replace = {n: insert.excluded[n] for n in names if n not in key}
    return Statement(insert.on_conflict_do_update(index_elements=key, set_=replace))


UPSERT_PARTICIPANTS = _upsert(
    t.rm_participants,
    BATCH_PARTICIPANTS,
    ("cohort_id", "participant_id"),
    {"deliverables": ARRAY(Text), "surveys": JSONB()},
)
UPSERT_COHORTS = _upsert(t.rm_cohorts, BATCH_COHORTS, ("cohort_id",))
# A reversal counts against the level, phase and cycle of the entry it cancels (as in the ledger);
# awards go in first so that one reversed within the same batch is found.
INSERT_AWARDS = Statement(
    insert(t.rm_credits).from_select(CREDIT_COLUMNS, select(BATCH_CREDITS).where(BATCH_CREDITS.c.reverses.is_(None)))
)
_b, _o = BATCH_CREDITS.alias("b"), t.rm_credits.alias("o")
INSERT_REVERSALS = Statement(
    insert(t.rm_credits).from_select(
        CREDIT_COLUMNS,
        select(
            *(_b.c[n] for n in CREDIT_COLUMNS[:5]),
            func.coalesce(_o.c.phase, ""),
            func.coalesce(_o.c.level, ""),
            *(_b.c[n] for n in CREDIT_COLUMNS[7:13]),
            func.coalesce(_o.c.counts_at, _b.c.recorded_at),
        )
        .select_from(_b.outerjoin(_o, and_(_o.c.cohort_id == _b.c.cohort_id, _o.c.entry_id == _b.c.reverses)))
        .where(_b.c.reverses.is_not(None)),
    )
)


def _recount_funnel_statement() -> Statement:
    """Every prefecture of each cohort named (``cohorts``), its counts from one scan of the cohort's rows grouped by
    prefecture: a join per prefecture sorted 50,000 rows on disk."""
    cohorts: BindParameter[list[str]] = bindparam("cohorts")
    counts = (
        select(
            P.c.cohort_id,
            P.c.prefecture_code,
            func.count().label("nominated"),
            func.count().filter(met_online(P, C)).label("met_online_requirement"),
            func.count().filter(P.c.selected).label("selected"),
            func.count().filter(attended(P, C)).label("attended_field_study"),
            func.count().filter(P.c.completed).label("completed"),
            func.count().filter(P.c.withdrawn).label("withdrawn"),
        )
        .select_from(P.join(C, C.c.cohort_id == P.c.cohort_id))
        .where(P.c.cohort_id == any_(cohorts))
        .group_by(P.c.cohort_id, P.c.prefecture_code)
        .cte("counts")
    )
    prefectures = (
        func.jsonb_array_elements(C.c.programme["prefectures"])
        .table_valued(column("value", JSONB), with_ordinality="ordinal")
        .render_derived(name="pf")
    )
    code = prefectures.c.value["code"].astext
    tallies = ("nominated", "met_online_requirement", "selected", "attended_field_study", "completed", "withdrawn")
    rows = (
        select(
            C.c.cohort_id,
            code,
            prefectures.c.value["name"].astext,
            prefectures.c.ordinal,
            *(func.coalesce(counts.c[n], 0) for n in tallies),
        )
        .select_from(C)
        .join(prefectures, true())
        .outerjoin(counts, and_(counts.c.cohort_id == C.c.cohort_id, counts.c.prefecture_code == code))
        .where(C.c.cohort_id == any_(cohorts))
    )
    names = ("cohort_id", "prefecture_code", "prefecture_name", "ordinal", *tallies)
    return Statement(insert(t.rm_funnel).from_select(names, rows))


RECOUNT_FUNNEL = _recount_funnel_statement()
FORGET_FUNNEL = Statement(delete(t.rm_funnel).where(t.rm_funnel.c.cohort_id == any_(bindparam("cohorts"))))
LOAD_COHORTS = Statement(
    select(*(t.rm_cohorts.c[n] for n in COHORT_COLUMNS)).where(t.rm_cohorts.c.cohort_id == any_(bindparam("cohorts")))
)
LOAD_PARTICIPANTS = Statement(
    select(t.rm_participants).where(
        t.rm_participants.c.cohort_id == bindparam("cohort"),
        t.rm_participants.c.participant_id == any_(bindparam("participants")),
    )
)
_selection = (
    update(t.rm_participants)
    .where(t.rm_participants.c.cohort_id == bindparam("cohort"))
    .values(
        selected=t.rm_participants.c.participant_id == any_(bindparam("chosen")),
        waiting_list=t.rm_participants.c.participant_id == any_(bindparam("listed")),
    )
)
SELECT_ALL = Statement(_selection)
# A block template decides each track on its own: only the people it names change.
SELECT_NAMED = Statement(
    _selection.where(
        or_(
            t.rm_participants.c.participant_id == any_(bindparam("chosen")),
            t.rm_participants.c.participant_id == any_(bindparam("listed")),
        )
    )
)
LOCK = Statement(select(func.pg_advisory_xact_lock(bindparam("lock"))))
TRY_LOCK = Statement(select(func.pg_try_advisory_xact_lock(bindparam("lock"))))
_checkpoints = t.rm_checkpoints
CHECKPOINT = Statement(select(_checkpoints.c.position).where(_checkpoints.c.projection == bindparam("projection")))
FORGET_CHECKPOINT = Statement(delete(_checkpoints).where(_checkpoints.c.projection == bindparam("projection")))
_moved = upsert(_checkpoints).values(projection=bindparam("projection"), position=bindparam("position"))
SET_CHECKPOINT = Statement(
    _moved.on_conflict_do_update(
        index_elements=[_checkpoints.c.projection],
        set_={"position": _moved.excluded.position, "updated_at": func.now()},
    )
)


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
            await execute(conn, LOCK, lock=PROJECTOR_LOCK)
            await conn.execute(f"TRUNCATE {', '.join(TABLES)}")  # no Core form for TRUNCATE
            await execute(conn, FORGET_CHECKPOINT, projection=PROJECTION)
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
            await execute(conn, FORGET_FUNNEL, cohorts=cohorts)
            await execute(conn, RECOUNT_FUNNEL, cohorts=cohorts)

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
            cur = await execute(conn, LOAD_COHORTS, cohorts=list(cohorts))
            for row in await cur.fetchall():
                batch.cohorts[row[0]] = CohortState(*row)
        by_cohort: dict[str, list[str]] = {}
        for cohort_id, pid in keys:
            by_cohort.setdefault(cohort_id, []).append(pid)
        for cohort_id, pids in by_cohort.items():
            # One cohort at a time: a join against all keys hashed the whole table, every cohort's rows.
            cur = await execute(conn, LOAD_PARTICIPANTS, cohort=cohort_id, participants=pids)
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
        await execute(
            conn, SELECT_NAMED if per_track else SELECT_ALL, chosen=selected, listed=waiting, cohort=cohort_id
        )
        chosen, listed = set(selected), set(waiting)
        for (cid, pid), p in batch.participants.items():
            if cid == cohort_id and (not per_track or pid in chosen or pid in listed):
                # rows held in memory must agree with what was just written
                p.selected, p.waiting_list = pid in chosen, pid in listed

    async def _write_participants(self, conn: Conn, batch: _Batch) -> None:
        if not batch.dirty:
            return
        await _copy(conn, BATCH_PARTICIPANTS, (batch.participants[k].row() for k in batch.dirty))
        await execute(conn, UPSERT_PARTICIPANTS)
        batch.dirty.clear()

    async def _write_cohorts(self, conn: Conn, batch: _Batch) -> None:
        rows = [c.row() for cid, c in batch.cohorts.items() if cid in batch.touched]
        if rows:
            await _copy(conn, BATCH_COHORTS, rows)
            await execute(conn, UPSERT_COHORTS)

    async def _write_credits(self, conn: Conn, batch: _Batch) -> None:
        if batch.credits:
            await _copy(conn, BATCH_CREDITS, batch.credits)
            await execute(conn, INSERT_AWARDS)
            await execute(conn, INSERT_REVERSALS)


async def _copy(conn: Conn, batch: TableClause, rows: Iterable[tuple[Any, ...]]) -> None:
    """The batch table's rows, replaced by these (COPY, which has no Core form, in the order of its columns)."""
    await conn.execute(f"TRUNCATE {batch.name}")
    statement = f"COPY {batch.name} ({', '.join(batch.c.keys())}) FROM STDIN"
    async with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            await copy.write_row(row)


async def _lock(conn: Conn, wait: bool) -> bool:
    """Take the projector's lock until the end of the transaction; False if another holds it."""
    if wait:
        await execute(conn, LOCK, lock=PROJECTOR_LOCK)
        return True
    row = await (await execute(conn, TRY_LOCK, lock=PROJECTOR_LOCK)).fetchone()
    return row is not None and row[0] is True


async def _checkpoint(conn: Conn) -> int:
    cur = await execute(conn, CHECKPOINT, projection=PROJECTION)
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _set_checkpoint(conn: Conn, position: int) -> None:
    await execute(conn, SET_CHECKPOINT, projection=PROJECTION, position=position)


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
