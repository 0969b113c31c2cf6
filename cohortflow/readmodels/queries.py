"""Reads of the projected tables: what the API and the exports serve.

Every list can be scoped to one prefecture (a coordinator sees only their own
people). The answers are as fresh as the projector's checkpoint, which
:func:`checkpoint` reports; they never scan the event log.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, Field
from sqlalchemy import ClauseElement, ColumnElement, Select, and_, bindparam, false, func, select, tuple_

from cohortflow.domain.phrases import phrase
from cohortflow.readmodels.projector import CHECKPOINT, PROJECTION, attended, met_online
from cohortflow.store import tables as t
from cohortflow.store.sql import Statement, execute

Conn = AsyncConnection[TupleRow]
Pool = AsyncConnectionPool[Conn]
Source = Pool | Conn
"""Where a read runs: a connection the caller already holds, or one borrowed from the pool for the read."""
People = Literal["nominees", "selected", "completed"]
STREAM_ROWS = 2_000
PERSON_KEY = (
    "The person's key across the store's cohorts (what their credit ledger is kept by); null for a role that "
    "sees ID numbers masked (coordinators, the reminder service): next to a masked number it would give the "
    "hidden digits away"
)


class CohortRow(BaseModel):
    cohort_id: str
    programme_id: str
    programme_version: int
    programme_name: str
    started_at: datetime
    phase: str | None
    phase_state: Literal["open", "closed"] | None
    deadline: datetime | None
    completed: bool
    nominated: int
    selected: int
    finished: int
    """Participants who completed (scoped like the other counts)."""
    withdrawn: int


class FunnelCounts(BaseModel):
    nominated: int = 0
    met_online_requirement: int = 0
    selected: int = 0
    attended_field_study: int = 0
    completed: int = 0
    withdrawn: int = 0


class PrefectureFunnelRow(BaseModel):
    code: str
    name: str
    counts: FunnelCounts


class Funnel(BaseModel):
    cohort_id: str
    programme_id: str
    programme_version: int
    prefecture: str | None
    """The scope asked for; None is the whole cohort."""
    totals: FunnelCounts
    prefectures: list[PrefectureFunnelRow]
    projected_to: int
    """The event position the read models reflect."""


class ParticipantRow(BaseModel):
    cohort_id: str
    participant_id: str
    person_key: str | None = Field(description=PERSON_KEY)
    name: str
    national_id: str
    gender: str
    prefecture_code: str
    school: str
    role: str
    nominated_position: int
    hours: float
    deliverables: list[str]
    met_online_requirement: bool
    selected: bool
    waiting_list: bool
    withdrawn: bool
    site: str | None
    batch: str | None
    days_present: int
    days_total: int
    attended_field_study: bool
    return_report: bool
    surveys_answered: list[str]
    completed: bool
    credit_hours: float


P = t.rm_participants.alias("p")
C = t.rm_cohorts.alias("c")
_COHORT_COLUMNS = [
    C.c[name]
    for name in (
        "cohort_id",
        "programme_id",
        "programme_version",
        "programme_name",
        "started_at",
        "phase",
        "phase_state",
        "deadline",
        "completed",
    )
]
_SUMMED = ("nominated", "selected", "completed", "withdrawn")
"""The funnel counts a cohort's row and a prefecture's totals sum (a cohort row's ``finished`` is the ``completed``
sum)."""
_FUNNEL_HEAD = Statement(
    select(C.c.programme_id, C.c.programme_version, t.rm_checkpoints.c.position)
    .select_from(C.outerjoin(t.rm_checkpoints, t.rm_checkpoints.c.projection == PROJECTION))
    .where(C.c.cohort_id == bindparam("cohort"))
)
_FUNNEL = (
    select(
        t.rm_funnel.c.prefecture_code,
        t.rm_funnel.c.prefecture_name,
        *(t.rm_funnel.c[s] for s in FunnelCounts.model_fields),
    )
    .where(t.rm_funnel.c.cohort_id == bindparam("cohort"))
    .order_by(t.rm_funnel.c.ordinal)
)


def _participant_column(name: str) -> ColumnElement[Any]:
    """The column of a participant row that ``name`` shows: most are the row's own, two are completion's rules."""
    if name == "met_online_requirement":
        return func.coalesce(met_online(P, C), false())
    if name == "attended_field_study":
        return func.coalesce(attended(P, C), false())
    return P.c.surveys if name == "surveys_answered" else P.c[name]


_PARTICIPANTS = select(*(_participant_column(name) for name in ParticipantRow.model_fields)).join_from(
    P, C, C.c.cohort_id == P.c.cohort_id
)
_WHICH: dict[People, tuple[ColumnElement[bool], ...]] = {
    "nominees": (),
    "selected": (P.c.selected,),
    "completed": (P.c.completed,),
}


def in_prefecture(
    statement: Select[Any], prefecture: str | None, code: ColumnElement[str] = P.c.prefecture_code
) -> tuple[Select[Any], dict[str, Any]]:
    """``statement`` narrowed to the rows of ``prefecture`` (by their ``code``), if one is given, and the parameter
    that takes."""
    if prefecture is None:
        return statement, {}
    return statement.where(code == bindparam("pref")), {"pref": prefecture}


@asynccontextmanager
async def connection(source: Source) -> AsyncIterator[Conn]:
    """``source`` itself if it is a connection, else one of its connections for the duration."""
    if isinstance(source, AsyncConnection):
        yield source
        return
    async with source.connection() as conn:
        yield conn


@asynccontextmanager
async def read_only(pool: Pool) -> AsyncIterator[Conn]:
    """One connection from ``pool`` in autocommit mode, for a request that only reads.

    Every statement is then its own transaction: no BEGIN and COMMIT round trips
    around it. Under PostgreSQL's default READ COMMITTED each statement sees its
    own snapshot inside a transaction too, so the answers are the same. Writes
    never come this way; those that need several statements to commit together
    open ``conn.transaction()`` themselves. The connection goes back to the pool
    with autocommit off, as every other borrower expects it; one given up in the
    middle of a statement is discarded by the pool instead.
    """
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            yield conn
        finally:
            if conn.pgconn.transaction_status == TransactionStatus.IDLE:
                await conn.set_autocommit(False)


def participant_row(row: tuple[Any, ...]) -> ParticipantRow:
    values = dict(zip(ParticipantRow.model_fields, row, strict=True))
    values["surveys_answered"] = sorted(values["surveys_answered"], key=values["surveys_answered"].get)
    values["credit_hours"] = float(values["credit_hours"])
    return ParticipantRow.model_validate(values)


async def checkpoint(source: Source) -> int:
    """The last event position applied to the read models."""
    async with connection(source) as conn:
        cur = await execute(conn, CHECKPOINT, projection=PROJECTION)
        row = await cur.fetchone()
        return int(row[0]) if row else 0


@dataclass(frozen=True)
class CohortFilter:
    """Which cohorts a list holds: of one programme, in one phase (or block), still running or completed; or the
    one cohort named."""

    cohort_id: str | None = None
    programme_id: str | None = None
    phase: str | None = None
    completed: bool | None = None


async def list_cohorts(
    source: Source,
    prefecture: str | None = None,
    *,
    only: CohortFilter = CohortFilter(),
    after: tuple[datetime, str] | None = None,
    limit: int | None = None,
) -> list[CohortRow]:
    """The cohorts (those whose programme includes ``prefecture``, if given, and ``only`` those), oldest first,
    with counts; at most ``limit`` of them after the (started_at, cohort_id) ``after``."""
    params: dict[str, Any] = {name: value for name, value in dataclasses.asdict(only).items() if value is not None}
    if prefecture is not None:
        params["pref"] = prefecture
    if after is not None:
        params["after_at"], params["after_id"] = after
    if limit is not None:
        params["limit"] = limit
    statement = _cohort_list(frozenset(params))
    async with connection(source) as conn:
        rows = await (await execute(conn, statement, **params)).fetchall()
    return [CohortRow.model_validate(dict(zip(CohortRow.model_fields, row, strict=True))) for row in rows]


@cache
def _cohort_list(given: frozenset[str]) -> Statement:
    """The cohort list's statement for the parameters ``given``, compiled once per combination (a few dozen at
    most): compiling it took longer than running it."""
    f = t.rm_funnel.alias("f")
    counted = f.c.cohort_id == C.c.cohort_id
    if (
        "pref" in given
    ):  # the cohort's one funnel row of the prefecture (keyed by both): a cohort without one is not listed
        cohorts = C.join(f, and_(counted, f.c.prefecture_code == bindparam("pref")))
    else:
        cohorts = C.outerjoin(f, counted)
    statement = (
        select(*_COHORT_COLUMNS, *(func.coalesce(func.sum(f.c[name]), 0) for name in _SUMMED))
        .select_from(cohorts)
        .group_by(C.c.cohort_id)
        .order_by(C.c.started_at, C.c.cohort_id)
    )
    for field in dataclasses.fields(CohortFilter):  # each of the filter's fields is a column of rm_cohorts
        if field.name in given:
            statement = statement.where(C.c[field.name] == bindparam(field.name))
    if "after_at" in given:
        statement = statement.where(
            tuple_(C.c.started_at, C.c.cohort_id) > tuple_(bindparam("after_at"), bindparam("after_id"))
        )
    if "limit" in given:
        statement = statement.limit(bindparam("limit"))
    return Statement(statement)


async def cohort_funnel(source: Source, cohort_id: str, prefecture: str | None = None) -> Funnel:
    """The cohort's funnel, totals and per prefecture in programme order; LookupError if unknown."""
    statement, scope = in_prefecture(_FUNNEL, prefecture, t.rm_funnel.c.prefecture_code)
    async with connection(source) as conn:
        head = await (await execute(conn, _FUNNEL_HEAD, cohort=cohort_id)).fetchone()
        if head is None:
            raise LookupError(
                phrase("cohort {cohort_id} does not exist (or is not projected yet)", cohort_id=cohort_id)
            )
        rows = await (await execute(conn, statement, cohort=cohort_id, **scope)).fetchall()
    steps = list(FunnelCounts.model_fields)
    prefectures = [
        PrefectureFunnelRow(code=r[0], name=r[1], counts=FunnelCounts(**dict(zip(steps, r[2:], strict=True))))
        for r in rows
    ]
    totals = FunnelCounts(**{s: sum(getattr(p.counts, s) for p in prefectures) for s in steps})
    return Funnel(
        cohort_id=cohort_id,
        programme_id=head[0],
        programme_version=head[1],
        prefecture=prefecture,
        totals=totals,
        prefectures=prefectures,
        projected_to=head[2] or 0,
    )


async def participant(
    source: Source, cohort_id: str, participant_id: str, prefecture: str | None = None
) -> ParticipantRow | None:
    """One participant, or None (also when ``prefecture`` is given and they belong to another)."""
    statement = _PARTICIPANTS.where(P.c.cohort_id == bindparam("cohort"), P.c.participant_id == bindparam("id"))
    statement, scope = in_prefecture(statement, prefecture)
    async with connection(source) as conn:
        row = await (await execute(conn, statement, cohort=cohort_id, id=participant_id, **scope)).fetchone()
    return participant_row(row) if row else None


async def participations(source: Source, person_key: str, prefecture: str | None = None) -> list[ParticipantRow]:
    """The person's places in every cohort (of ``prefecture`` only, if given), the earliest cohort first."""
    statement = _PARTICIPANTS.where(P.c.person_key == bindparam("key")).order_by(C.c.started_at, P.c.cohort_id)
    statement, scope = in_prefecture(statement, prefecture)
    async with connection(source) as conn:
        rows = await (await execute(conn, statement, key=person_key, **scope)).fetchall()
    return [participant_row(row) for row in rows]


@dataclass(frozen=True)
class ParticipantSearch:
    """What a participant search matches, all given parts at once: part of the name, part of the school's name,
    and an ID number whole (``national_id``) or as masked, by its division code, length and check character."""

    name: str | None = None
    school: str | None = None
    national_id: str | None = None
    masked_id: tuple[str, int, str] | None = None
    """(division code, length, check character)."""


async def search_participants(
    source: Source,
    cohort_id: str,
    search: ParticipantSearch,
    prefecture: str | None = None,
    *,
    after: str | None = None,
    limit: int | None = None,
) -> list[ParticipantRow]:
    """The cohort's participants matching ``search`` (of ``prefecture`` only, if given), by participant id, at most
    ``limit`` after the participant ``after``. Read in key order from the cohort's participants, so a page ends as
    soon as it is full."""
    statement, params = in_prefecture(_PARTICIPANTS.where(P.c.cohort_id == bindparam("cohort")), prefecture)
    if search.name is not None:
        statement = statement.where(func.strpos(func.lower(P.c.name), func.lower(bindparam("name"))) > 0)
        params["name"] = search.name
    if search.school is not None:
        statement = statement.where(func.strpos(func.lower(P.c.school), func.lower(bindparam("school"))) > 0)
        params["school"] = search.school
    if search.national_id is not None:
        statement = statement.where(P.c.national_id == bindparam("id"))
        params["id"] = search.national_id
    if search.masked_id is not None:
        statement = statement.where(
            func.left(P.c.national_id, 6) == bindparam("head"),
            func.length(P.c.national_id) == bindparam("length"),
            func.upper(func.right(P.c.national_id, 1)) == bindparam("check"),
        )
        params["head"], params["length"], params["check"] = search.masked_id
    if after is not None:
        statement = statement.where(P.c.participant_id > bindparam("after"))
        params["after"] = after
    statement = statement.order_by(P.c.participant_id)
    if limit is not None:
        statement = statement.limit(bindparam("limit"))
        params["limit"] = limit
    async with connection(source) as conn:
        rows = await (await execute(conn, statement, cohort=cohort_id, **params)).fetchall()
    return [participant_row(row) for row in rows]


async def iter_people(
    pool: Pool, cohort_id: str, which: People, prefecture: str | None = None
) -> AsyncIterator[ParticipantRow]:
    """The cohort's nominees, selected or completed participants, by participant id, streamed.

    A server-side cursor hands rows over a few thousand at a time, so an export
    of 50,000 people never holds them all in memory.
    """
    statement = _PARTICIPANTS.where(P.c.cohort_id == bindparam("cohort"), *_WHICH[which])
    statement, scope = in_prefecture(statement.order_by(P.c.participant_id), prefecture)
    async for row in stream_rows(pool, statement, cohort=cohort_id, **scope):
        yield participant_row(row)


async def stream_rows(
    pool: Pool, statement: Statement | ClauseElement, /, **values: Any
) -> AsyncIterator[tuple[Any, ...]]:
    """Rows of ``statement`` through a named (server-side) cursor inside its own transaction."""
    compiled = statement if isinstance(statement, Statement) else Statement(statement)
    async with (
        pool.connection() as conn,
        conn.transaction(),
        conn.cursor(name=f"rm_{uuid.uuid4().hex[:12]}") as cur,
    ):
        cur.itersize = STREAM_ROWS
        await cur.execute(compiled.sql, compiled.args(values))
        async for row in cur:
            yield row


class PrefectureFunnel(BaseModel):
    prefecture_code: str
    prefecture_name: str
    nominated: int
    selected: int
    completed: int
    withdrawn: int


async def funnel_by_prefecture(source: Source, prefecture: str | None = None) -> list[PrefectureFunnel]:
    """Every cohort's participants by stage, summed per prefecture (only ``prefecture``'s, if given), in the
    programmes' order of prefectures."""
    f = t.rm_funnel.c
    statement, scope = in_prefecture(
        select(f.prefecture_code, func.min(f.prefecture_name), *(func.sum(f[name]) for name in _SUMMED))
        .group_by(f.prefecture_code)
        .order_by(func.min(f.ordinal), f.prefecture_code),
        prefecture,
        f.prefecture_code,
    )
    async with connection(source) as conn:
        rows = await (await execute(conn, statement, **scope)).fetchall()
    fields = list(PrefectureFunnel.model_fields)
    return [PrefectureFunnel.model_validate(dict(zip(fields, row, strict=True))) for row in rows]
