"""Reads of the projected tables: what the API and the exports serve.

Every list can be scoped to one prefecture (a coordinator sees only their own
people). The answers are as fresh as the projector's checkpoint, which
:func:`checkpoint` reports; they never scan the event log.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, Field

from cohortflow.domain.phrases import phrase
from cohortflow.readmodels.projector import ATTENDED_SQL, MET_ONLINE_SQL, PROJECTION

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


_PARTICIPANT_SELECT = f"""
SELECT p.cohort_id, p.participant_id, p.person_key, p.name, p.national_id, p.gender, p.prefecture_code, p.school,
       p.role, p.nominated_position, p.hours, p.deliverables, coalesce({MET_ONLINE_SQL}, false), p.selected,
       p.waiting_list, p.withdrawn, p.site, p.batch, p.days_present, p.days_total, coalesce({ATTENDED_SQL}, false),
       p.return_report, p.surveys, p.completed, p.credit_hours
FROM rm_participants p JOIN rm_cohorts c ON c.cohort_id = p.cohort_id
"""
_WHICH = {"nominees": "true", "selected": "p.selected", "completed": "p.completed"}


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
        cur = await conn.execute("SELECT position FROM rm_checkpoints WHERE projection = %s", (PROJECTION,))
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
    sql = """
    SELECT c.cohort_id, c.programme_id, c.programme_version, c.programme_name, c.started_at, c.phase, c.phase_state,
           c.deadline, c.completed, coalesce(sum(f.nominated), 0), coalesce(sum(f.selected), 0),
           coalesce(sum(f.completed), 0), coalesce(sum(f.withdrawn), 0)
    FROM rm_cohorts c
    LEFT JOIN rm_funnel f ON f.cohort_id = c.cohort_id AND (%(pref)s::text IS NULL OR f.prefecture_code = %(pref)s)
    WHERE (%(pref)s::text IS NULL
           OR EXISTS (SELECT 1 FROM rm_funnel g WHERE g.cohort_id = c.cohort_id AND g.prefecture_code = %(pref)s))
      AND (%(cohort)s::text IS NULL OR c.cohort_id = %(cohort)s)
      AND (%(programme)s::text IS NULL OR c.programme_id = %(programme)s)
      AND (%(phase)s::text IS NULL OR c.phase = %(phase)s)
      AND (%(completed)s::boolean IS NULL OR c.completed = %(completed)s)
      AND (%(after_at)s::timestamptz IS NULL OR (c.started_at, c.cohort_id) > (%(after_at)s, %(after_id)s))
    GROUP BY c.cohort_id
    ORDER BY c.started_at, c.cohort_id
    LIMIT %(limit)s
    """
    params = {
        "pref": prefecture,
        "cohort": only.cohort_id,
        "programme": only.programme_id,
        "phase": only.phase,
        "completed": only.completed,
        "after_at": after[0] if after else None,
        "after_id": after[1] if after else None,
        "limit": limit,
    }
    async with connection(source) as conn:
        rows = await (await conn.execute(sql, params)).fetchall()
    return [CohortRow.model_validate(dict(zip(CohortRow.model_fields, row, strict=True))) for row in rows]


async def cohort_funnel(source: Source, cohort_id: str, prefecture: str | None = None) -> Funnel:
    """The cohort's funnel, totals and per prefecture in programme order; LookupError if unknown."""
    async with connection(source) as conn:
        cur = await conn.execute(
            "SELECT c.programme_id, c.programme_version, k.position FROM rm_cohorts c "
            "LEFT JOIN rm_checkpoints k ON k.projection = %s WHERE c.cohort_id = %s",
            (PROJECTION, cohort_id),
        )
        head = await cur.fetchone()
        if head is None:
            raise LookupError(
                phrase("cohort {cohort_id} does not exist (or is not projected yet)", cohort_id=cohort_id)
            )
        cur = await conn.execute(
            "SELECT prefecture_code, prefecture_name, nominated, met_online_requirement, selected, "
            "attended_field_study, completed, withdrawn FROM rm_funnel "
            "WHERE cohort_id = %s AND (%s::text IS NULL OR prefecture_code = %s) ORDER BY ordinal",
            (cohort_id, prefecture, prefecture),
        )
        rows = await cur.fetchall()
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
    async with connection(source) as conn:
        cur = await conn.execute(
            _PARTICIPANT_SELECT + "WHERE p.cohort_id = %s AND p.participant_id = %s "
            "AND (%s::text IS NULL OR p.prefecture_code = %s)",
            (cohort_id, participant_id, prefecture, prefecture),
        )
        row = await cur.fetchone()
    return participant_row(row) if row else None


async def participations(source: Source, person_key: str, prefecture: str | None = None) -> list[ParticipantRow]:
    """The person's places in every cohort (of ``prefecture`` only, if given), the earliest cohort first."""
    async with connection(source) as conn:
        cur = await conn.execute(
            _PARTICIPANT_SELECT + "WHERE p.person_key = %s AND (%s::text IS NULL OR p.prefecture_code = %s) "
            "ORDER BY c.started_at, p.cohort_id",
            (person_key, prefecture, prefecture),
        )
        rows = await cur.fetchall()
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
    head, length, check = search.masked_id or (None, None, None)
    sql = (
        _PARTICIPANT_SELECT
        + """
    WHERE p.cohort_id = %(cohort)s AND (%(pref)s::text IS NULL OR p.prefecture_code = %(pref)s)
      AND (%(name)s::text IS NULL OR strpos(lower(p.name), lower(%(name)s)) > 0)
      AND (%(school)s::text IS NULL OR strpos(lower(p.school), lower(%(school)s)) > 0)
      AND (%(id)s::text IS NULL OR p.national_id = %(id)s)
      AND (%(head)s::text IS NULL
           OR (left(p.national_id, 6) = %(head)s AND length(p.national_id) = %(length)s
               AND upper(right(p.national_id, 1)) = %(check)s))
      AND (%(after)s::text IS NULL OR p.participant_id > %(after)s)
    ORDER BY p.participant_id
    LIMIT %(limit)s
    """
    )
    params = {
        "cohort": cohort_id,
        "pref": prefecture,
        "name": search.name,
        "school": search.school,
        "id": search.national_id,
        "head": head,
        "length": length,
        "check": check,
        "after": after,
        "limit": limit,
    }
    async with connection(source) as conn:
        rows = await (await conn.execute(sql, params)).fetchall()
    return [participant_row(row) for row in rows]


async def iter_people(
    pool: Pool, cohort_id: str, which: People, prefecture: str | None = None
) -> AsyncIterator[ParticipantRow]:
    """The cohort's nominees, selected or completed participants, by participant id, streamed.

    A server-side cursor hands rows over a few thousand at a time, so an export
    of 50,000 people never holds them all in memory.
    """
    sql = (
        _PARTICIPANT_SELECT + f"WHERE p.cohort_id = %s AND {_WHICH[which]} "
        "AND (%s::text IS NULL OR p.prefecture_code = %s) ORDER BY p.participant_id"
    )
    async for row in stream_rows(pool, sql, (cohort_id, prefecture, prefecture)):
        yield participant_row(row)


async def stream_rows(pool: Pool, sql: str, params: tuple[Any, ...]) -> AsyncIterator[tuple[Any, ...]]:
    """Rows of ``sql`` through a named (server-side) cursor inside its own transaction."""
    async with (
        pool.connection() as conn,
        conn.transaction(),
        conn.cursor(name=f"rm_{uuid.uuid4().hex[:12]}") as cur,
    ):
        cur.itersize = STREAM_ROWS
        await cur.execute(sql, params)
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
    sql = (
        "SELECT prefecture_code, min(prefecture_name), sum(nominated), sum(selected), sum(completed), sum(withdrawn)"
        " FROM rm_funnel{where} GROUP BY prefecture_code ORDER BY min(ordinal), prefecture_code"
    )
    where, params = ("", {}) if prefecture is None else (" WHERE prefecture_code = %(pref)s", {"pref": prefecture})
    async with connection(source) as conn:
        rows = await (await conn.execute(sql.format(where=where), params)).fetchall()
    fields = list(PrefectureFunnel.model_fields)
    return [PrefectureFunnel.model_validate(dict(zip(fields, row, strict=True))) for row in rows]
