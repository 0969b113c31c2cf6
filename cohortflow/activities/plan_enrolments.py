"""Who a rotation plan's cohorts have enrolled and who its roster lists, read from the event store.

A nominee import into one of the plan's cohorts asks these a chunk of rows at a
time; the plan's status counts its roster against them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from pydantic import BaseModel, Field
from sqlalchemy import BindParameter, any_, bindparam, exists, func, select

from cohortflow.domain.cohort_stream import cohort_stream
from cohortflow.domain.cycle import CommandRefused
from cohortflow.domain.events import CandidateNominated, ParticipantWithdrawn, PlanStarted, RosterEntered
from cohortflow.domain.phrases import phrase
from cohortflow.domain.rotation_plan import plan_stream
from cohortflow.store import tables as t
from cohortflow.store.eventstore import EventStore
from cohortflow.store.sql import Statement, execute

_N, _W = t.events.alias("n"), t.events.alias("w")
_PERSON = _N.c.data["person_key"].astext.label("key")
# Nominated in one of the streams and not withdrawn from it since. The NOT EXISTS probe uses the
# events_by_participant index (stream, coalesce(participant, '')), so only the plan's cohorts' nominations are read.
_ENROLLED = (
    select(_PERSON, _N.c.stream_id)
    .where(
        _N.c.type == CandidateNominated.TYPE,
        _N.c.stream_id == any_(bindparam("cohorts")),
        ~exists().where(
            _W.c.stream_id == _N.c.stream_id,
            _W.c.type == ParticipantWithdrawn.TYPE,
            func.coalesce(_W.c.data["participant_id"].astext, "") == _N.c.data["participant_id"].astext,
        ),
    )
    .subquery("e")
)
_E = t.events
_ROSTER = (
    select(_E.c.data["person_key"].astext.label("key"))
    .where(_E.c.stream_id == bindparam("plan"), _E.c.type == RosterEntered.TYPE)
    .subquery("r")
)
_KEYS: BindParameter[list[str]] = bindparam("keys")
ROSTER = Statement(select(_ROSTER.c.key))
ROSTER_OF = Statement(select(_ROSTER.c.key).where(_ROSTER.c.key == any_(_KEYS)))
HAS_ROSTER = Statement(select(exists(select(_ROSTER.c.key))))
ENROLLED_OF = Statement(select(_ENROLLED.c.key, _ENROLLED.c.stream_id).where(_ENROLLED.c.key == any_(_KEYS)))


def _coverage() -> Statement:
    enrolled = select(_ENROLLED.c.key).distinct().cte("enrolled")
    roster = select(_ROSTER.c.key).cte("roster")
    missing = ~exists().where(enrolled.c.key == roster.c.key)
    return Statement(
        select(
            select(func.count()).select_from(roster).scalar_subquery(),
            select(func.count()).select_from(enrolled).scalar_subquery(),
            select(func.count()).select_from(roster).where(missing).scalar_subquery(),
        )
    )


COVERAGE = _coverage()


def _streams(cohort_ids: Collection[str]) -> list[str]:
    return [cohort_stream(c) for c in cohort_ids]


async def roster_keys(
    conn: AsyncConnection[TupleRow], plan_id: str, person_keys: Collection[str] | None = None
) -> set[str]:
    """The people on the plan's roster; with ``person_keys``, only those of them it lists."""
    if person_keys is None:
        cur = await execute(conn, ROSTER, plan=plan_stream(plan_id))
    elif not person_keys:
        return set()
    else:
        cur = await execute(conn, ROSTER_OF, plan=plan_stream(plan_id), keys=list(person_keys))
    return {key for (key,) in await cur.fetchall()}


async def enrolled_elsewhere(
    conn: AsyncConnection[TupleRow], cohort_ids: Collection[str], person_keys: Collection[str]
) -> dict[str, str]:
    """The cohort (of ``cohort_ids``) each of ``person_keys`` is enrolled in, for those who are."""
    if not cohort_ids or not person_keys:
        return {}
    cur = await execute(conn, ENROLLED_OF, cohorts=_streams(cohort_ids), keys=list(person_keys))
    return {key: stream.removeprefix("cohort-") for key, stream in await cur.fetchall()}


class PlanCoverage(BaseModel):
    roster: int = Field(description="People on the roster (0: the plan has none)")
    enrolled: int = Field(description="People enrolled in one of the plan's cohorts, withdrawals not counted")
    not_yet_enrolled: int = Field(description="People on the roster not enrolled in any of its cohorts yet")


async def plan_coverage(store: EventStore, plan_id: str, cohort_ids: Collection[str]) -> PlanCoverage:
    async with store.pool.connection() as conn:
        cur = await execute(conn, COVERAGE, cohorts=_streams(cohort_ids), plan=plan_stream(plan_id))
        row = await cur.fetchone()
    assert row is not None
    return PlanCoverage(roster=row[0], enrolled=row[1], not_yet_enrolled=row[2])


@dataclass(frozen=True)
class PlanNominations:
    """What nominees of one of a plan's cohorts are checked against: its other cohorts and its roster."""

    plan_id: str
    other_cohorts: list[str]
    roster: bool

    async def lookup(
        self, conn: AsyncConnection[TupleRow], person_keys: Collection[str]
    ) -> tuple[dict[str, str], set[str] | None]:
        """The other cohort each person is enrolled in; who of them the roster lists (None: no roster)."""
        enrolled = await enrolled_elsewhere(conn, self.other_cohorts, person_keys)
        listed = await roster_keys(conn, self.plan_id, person_keys) if self.roster else None
        return enrolled, listed


async def plan_nominations(store: EventStore, plan_id: str, cohort_id: str) -> PlanNominations:
    """What a nominee import into ``cohort_id``, one of the plan's cohorts, checks its rows against."""
    start = await store.first_event(plan_stream(plan_id))
    if start is None or start.type != PlanStarted.TYPE:
        raise CommandRefused(phrase("rotation plan {plan_id} has not been started", plan_id=plan_id))
    others = [c for c in PlanStarted.model_validate(start.data).cohorts if c != cohort_id]
    async with store.pool.connection() as conn:
        cur = await execute(conn, HAS_ROSTER, plan=plan_stream(plan_id))
        row = await cur.fetchone()
    return PlanNominations(plan_id, others, bool(row and row[0]))
