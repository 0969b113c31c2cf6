"""Rotation plans: recording a plan's start and its roster, and finding who is enrolled in its cohorts."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from pydantic import BaseModel, Field
from temporalio import activity

from cohortflow.activities.base import refusals_are_final
from cohortflow.domain.cycle import CommandRefused
from cohortflow.domain.events import Metadata, PlanStarted
from cohortflow.domain.programme import Programme
from cohortflow.domain.rotation_plan import RosterCheck, RosterRow, RotationPlan
from cohortflow.imports.reading import FileRefused, open_table
from cohortflow.imports.typed import typed_row
from cohortflow.store.errors import ExpectedVersionMismatch
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import NewEvent

# Nominated in one of the streams and not withdrawn from it since. The NOT EXISTS probe uses the
# events_by_participant index (stream, participant), so only the plan's cohorts' nominations are read.
_NOT_WITHDRAWN = """
  NOT EXISTS (
    SELECT 1 FROM events w
    WHERE w.stream_id = n.stream_id AND w.type = 'ParticipantWithdrawn'
      AND coalesce(w.data->>'participant_id', '') = n.data->>'participant_id'
  )
"""
_ENROLLED = f"""
SELECT n.data->>'person_key', n.stream_id FROM events n
WHERE n.type = 'CandidateNominated' AND n.stream_id = ANY(%s) AND n.data->>'person_key' = ANY(%s) AND {_NOT_WITHDRAWN}
"""
_COVERAGE = f"""
WITH enrolled AS (
  SELECT DISTINCT n.data->>'person_key' AS key FROM events n
  WHERE n.type = 'CandidateNominated' AND n.stream_id = ANY(%(cohorts)s) AND {_NOT_WITHDRAWN}
), roster AS (
  SELECT data->>'person_key' AS key FROM events WHERE stream_id = %(plan)s AND type = 'RosterEntered'
)
SELECT (SELECT count(*) FROM roster), (SELECT count(*) FROM enrolled),
       (SELECT count(*) FROM roster r WHERE NOT EXISTS (SELECT 1 FROM enrolled e WHERE e.key = r.key))
"""


_ON_ROSTER = """
SELECT data->>'person_key' FROM events
WHERE stream_id = %s AND type = 'RosterEntered' AND data->>'person_key' = ANY(%s)
"""
REPORTED_PROBLEMS = 200


def plan_stream(plan_id: str) -> str:
    return f"plan-{plan_id}"


async def has_roster(store: EventStore, plan_id: str) -> bool:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT EXISTS (SELECT 1 FROM events WHERE stream_id = %s AND type = 'RosterEntered')",
            (plan_stream(plan_id),),
        )
        row = await cur.fetchone()
    return bool(row and row[0])


async def on_roster(conn: AsyncConnection[TupleRow], plan_id: str, person_keys: Collection[str]) -> set[str]:
    """Which of ``person_keys`` the plan's roster lists."""
    if not person_keys:
        return set()
    cur = await conn.execute(_ON_ROSTER, (plan_stream(plan_id), list(person_keys)))
    return {key for (key,) in await cur.fetchall()}


async def enrolled_elsewhere(
    conn: AsyncConnection[TupleRow], cohort_ids: Collection[str], person_keys: Collection[str]
) -> dict[str, str]:
    """The cohort (of ``cohort_ids``) each of ``person_keys`` is enrolled in, for those who are."""
    if not cohort_ids or not person_keys:
        return {}
    cur = await conn.execute(_ENROLLED, ([f"cohort-{c}" for c in cohort_ids], list(person_keys)))
    return {key: stream.removeprefix("cohort-") for key, stream in await cur.fetchall()}


class PlanCoverage(BaseModel):
    roster: int = Field(description="People on the roster (0: the plan has none)")
    enrolled: int = Field(description="People enrolled in one of the plan's cohorts, withdrawals not counted")
    not_yet_enrolled: int = Field(description="People on the roster not enrolled in any of its cohorts yet")


async def plan_coverage(store: EventStore, plan_id: str, cohort_ids: Collection[str]) -> PlanCoverage:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            _COVERAGE, {"cohorts": [f"cohort-{c}" for c in cohort_ids], "plan": plan_stream(plan_id)}
        )
        row = await cur.fetchone()
    assert row is not None
    return PlanCoverage(roster=row[0], enrolled=row[1], not_yet_enrolled=row[2])


async def plan_cohorts(store: EventStore, plan_id: str) -> list[str]:
    """The cohorts of a started plan, from its PlanStarted event."""
    start = await store.first_event(plan_stream(plan_id))
    if start is None or start.type != PlanStarted.TYPE:
        raise CommandRefused(f"rotation plan {plan_id} has not been started")
    return list(PlanStarted.model_validate(start.data).cohorts)


class RecordPlanStarted(BaseModel):
    plan: RotationPlan
    programme_digest: str
    started_at: datetime
    workflow_id: str
    actor: str


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
        listed = await on_roster(conn, self.plan_id, person_keys) if self.roster else None
        return enrolled, listed


async def plan_nominations(store: EventStore, plan_id: str, cohort_id: str) -> PlanNominations:
    others = [c for c in await plan_cohorts(store, plan_id) if c != cohort_id]
    return PlanNominations(plan_id, others, await has_roster(store, plan_id))


class ImportRoster(BaseModel):
    plan_id: str
    workflow_id: str
    actor: str
    programme: Programme
    digest: str
    filename: str


class RosterOutcome(BaseModel):
    status: Literal["applied", "refused", "duplicate"]
    digest: str
    rows: int = 0
    applied: int = 0
    problems: list[str] = []
    problem_count: int = 0


class PlanActivities:
    def __init__(self, store: EventStore, uploads: Path | None = None) -> None:
        self.store = store
        self.uploads = uploads

    @activity.defn
    @refusals_are_final
    async def record_plan_started(self, req: RecordPlanStarted) -> int:
        """Open the plan's stream; a second plan with the same id is refused."""
        plan = req.plan
        event = PlanStarted(
            plan_id=plan.id,
            name=plan.name,
            programme_id=plan.programme_id,
            programme_version=plan.programme_version,
            programme_digest=req.programme_digest,
            first_year=plan.first_year,
            cohorts=plan.cohort_ids,
            started_at=req.started_at,
        )
        metadata = Metadata(
            actor=req.actor,
            workflow_id=req.workflow_id,
            programme_id=plan.programme_id,
            programme_version=plan.programme_version,
            step="started",
            correlation_id=plan.id,
        ).model_dump()
        try:
            result = await self.store.append(
                plan_stream(plan.id),
                [NewEvent(event.TYPE, event.payload(), metadata, event.SCHEMA_VERSION)],
                idempotency_key=f"{req.workflow_id}/started",
                expected_version=0,
            )
        except ExpectedVersionMismatch:
            raise CommandRefused(f"rotation plan {plan.id} already exists") from None
        return result.last_position

    @activity.defn
    @refusals_are_final
    async def import_roster(self, req: ImportRoster) -> RosterOutcome:
        """Add the file's people to the plan's roster: every row, or none if any is bad; once per file."""
        step = f"roster/{req.digest}"
        earlier = await self.store.recorded(f"{req.workflow_id}/{step}")
        if earlier is not None:
            return RosterOutcome(status="duplicate", digest=req.digest, rows=len(earlier), applied=len(earlier))
        path = self.uploads / req.digest if self.uploads else None
        if path is None or not path.is_file():
            return RosterOutcome(
                status="refused", digest=req.digest, problems=[f"no uploaded file has digest {req.digest}"]
            )
        async with self.store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT data->>'person_key' FROM events WHERE stream_id = %s AND type = 'RosterEntered'",
                (plan_stream(req.plan_id),),
            )
            known = {key for (key,) in await cur.fetchall()}
        check, events, problems, rows = RosterCheck(req.programme, known), [], [], 0
        try:
            with open_table(path, "roster") as table:
                for source in table.rows():
                    rows += 1
                    typed, found = typed_row("roster", source)
                    outcome = found if typed is None or found else check.check(_roster_row(typed))
                    if isinstance(outcome, list):
                        problems.extend(outcome)
                    else:
                        events.append(outcome)
        except FileRefused as exc:
            problems.append(str(exc))
        if rows == 0 and not problems:
            problems.append("the file has no data rows")
        if problems:
            return RosterOutcome(
                status="refused",
                digest=req.digest,
                rows=rows,
                problems=problems[:REPORTED_PROBLEMS],
                problem_count=len(problems),
            )
        metadata = Metadata(
            actor=req.actor,
            workflow_id=req.workflow_id,
            programme_id=req.programme.id,
            programme_version=req.programme.version,
            step=step,
            correlation_id=req.plan_id,
        ).model_dump()
        await self.store.append(
            plan_stream(req.plan_id),
            [NewEvent(e.TYPE, e.payload(), metadata, e.SCHEMA_VERSION) for e in events],
            idempotency_key=f"{req.workflow_id}/{step}",
        )
        return RosterOutcome(status="applied", digest=req.digest, rows=rows, applied=len(events))


def _roster_row(row: object) -> RosterRow:
    assert isinstance(row, RosterRow)
    return row
