"""Rotation plans' own records: the plan starting, and the people of its roster."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel
from temporalio import activity

from cohortflow.activities.base import refusals_are_final
from cohortflow.activities.imports import REPORTED_PROBLEMS, upload_path
from cohortflow.activities.plan_enrolments import roster_keys
from cohortflow.domain.cycle import CommandRefused
from cohortflow.domain.events import Event, Metadata, PlanStarted
from cohortflow.domain.phrases import phrase
from cohortflow.domain.programme import Programme
from cohortflow.domain.rotation_plan import RosterCheck, RosterRow, RotationPlan, plan_stream
from cohortflow.domain.template import ProgrammeTemplate
from cohortflow.imports.reading import FileRefused, open_table
from cohortflow.imports.typed import typed_rows
from cohortflow.store.errors import ExpectedVersionMismatch
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import AppendResult, NewEvent


class PlanRef(BaseModel):
    """Which plan an activity records for, on whose behalf, and under which programme version."""

    plan_id: str
    workflow_id: str
    actor: str
    programme_id: str
    programme_version: int


class RecordPlanStarted(BaseModel):
    ref: PlanRef
    plan: RotationPlan
    programme_digest: str
    started_at: datetime


class ImportRoster(BaseModel):
    ref: PlanRef
    programme: Programme | ProgrammeTemplate
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

    async def _append(
        self, ref: PlanRef, step: str, events: Sequence[Event], expected_version: int | None = None
    ) -> AppendResult:
        """Append to the plan's stream as business step ``step``, once."""
        metadata = Metadata(
            actor=ref.actor,
            workflow_id=ref.workflow_id,
            programme_id=ref.programme_id,
            programme_version=ref.programme_version,
            step=step,
            correlation_id=ref.plan_id,
        ).model_dump()
        return await self.store.append(
            plan_stream(ref.plan_id),
            [NewEvent(e.TYPE, e.payload(), metadata, e.SCHEMA_VERSION) for e in events],
            idempotency_key=f"{ref.workflow_id}/{step}",
            expected_version=expected_version,
        )

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
        try:
            result = await self._append(req.ref, "started", [event], expected_version=0)
        except ExpectedVersionMismatch:
            raise CommandRefused(phrase("rotation plan {plan_id} already exists", plan_id=plan.id)) from None
        return result.last_position

    @activity.defn
    @refusals_are_final
    async def import_roster(self, req: ImportRoster) -> RosterOutcome:
        """Add the file's people to the plan's roster: every row, or none if any is bad; once per file."""
        step = f"roster/{req.digest}"
        earlier = await self.store.recorded(f"{req.ref.workflow_id}/{step}")
        if earlier is not None:
            return RosterOutcome(status="duplicate", digest=req.digest, rows=len(earlier), applied=len(earlier))
        path = upload_path(self.uploads, req.digest) if self.uploads else None
        if path is None or not path.is_file():
            return RosterOutcome(
                status="refused",
                digest=req.digest,
                problems=[phrase("no uploaded file has digest {digest}", digest=req.digest)],
            )
        async with self.store.pool.connection() as conn:
            check = RosterCheck(
                req.programme, await roster_keys(conn, req.ref.plan_id), await self.store.person_keys(conn)
            )
        events, problems, rows = [], [], 0
        try:
            with open_table(path, "roster") as table:
                for _, typed, found in typed_rows(table):
                    rows += 1
                    outcome = check.check(typed) if isinstance(typed, RosterRow) and not found else found
                    if isinstance(outcome, list):
                        problems.extend(outcome)
                    else:
                        events.append(outcome)
        except FileRefused as exc:
            problems.append(str(exc))
        if rows == 0 and not problems:
            problems.append(phrase("the file has no data rows"))
        if problems:
            return RosterOutcome(
                status="refused",
                digest=req.digest,
                rows=rows,
                problems=problems[:REPORTED_PROBLEMS],
                problem_count=len(problems),
            )
        await self._append(req.ref, step, events)
        return RosterOutcome(status="applied", digest=req.digest, rows=rows, applied=len(events))
