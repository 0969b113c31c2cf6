"""The annual review's activities: open a district's year, record each list's step, remind the schools waiting.

Each appends to the review's own stream (``review-{district}-{year}``) under a
key of the review workflow's step, so a retried attempt appends nothing twice.
Reminders go through the reminder outbox in the same transaction as their
event, as cohort reminders do, so the dispatcher sends each once.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Literal

import structlog
from pydantic import BaseModel, ConfigDict
from sqlalchemy import bindparam, select
from temporalio import activity

from cohortflow.activities.base import refusals_are_final
from cohortflow.activities.heartbeats import heartbeating
from cohortflow.domain.credit_bank.review import ReviewRefused, review_id
from cohortflow.domain.events import Event, Metadata, ReviewListDecided, ReviewOpened, ReviewReminded, YearLocked
from cohortflow.domain.phrases import phrase
from cohortflow.domain.vocabulary import DEFAULT_TIME_ZONE, PROVINCE_ZONE
from cohortflow.readmodels.projector import Projector
from cohortflow.reminders.outbox import OutboxMessage, enqueue, reminder_key
from cohortflow.store import tables as t
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import NewEvent
from cohortflow.store.sql import Statement, execute

_SCHOOLS = Statement(
    select(t.rm_people.c.school)
    .distinct()
    .where(t.rm_people.c.county_code == bindparam("county"))
    .order_by(t.rm_people.c.school)
)


class ReviewRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    district: str
    year: int
    actor: str = "system:annual-review"

    @property
    def stream_id(self) -> str:
        return review_id(self.district, self.year)


class OpenReview(BaseModel):
    ref: ReviewRef
    deadline: date


class RecordListStep(BaseModel):
    ref: ReviewRef
    step: str
    """The workflow's name for the step (the Update's id): keys the append."""
    school: str
    state: Literal["submitted", "approved", "returned"]
    reasons: list[str] = []
    locks_year: bool = False
    """The last school approved: the year's lock is recorded with it."""


class RemindReview(BaseModel):
    ref: ReviewRef
    occurrence: str
    deadline: date
    schools: list[str]
    due_at: datetime


class ReviewActivities:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    @activity.defn
    @refusals_are_final
    async def open_review(self, req: OpenReview) -> list[str]:
        """Record the review of the district's schools as the registry knows them now; returns the schools."""
        recorded = await self.store.recorded(f"{req.ref.stream_id}/opened")
        if recorded is not None:
            return list(recorded[0].data["schools"])
        async with heartbeating():
            await Projector(self.store).catch_up(wait=True)
        async with self.store.pool.connection() as conn:
            cur = await execute(conn, _SCHOOLS, county=req.ref.district)
            schools = [row[0] for row in await cur.fetchall()]
        if not schools:
            raise ReviewRefused(
                phrase(
                    "district {district} has no registered people, so no schools to review", district=req.ref.district
                )
            )
        event = ReviewOpened(district=req.ref.district, year=req.ref.year, deadline=req.deadline, schools=schools)
        await self._append(req.ref, "opened", [event])
        return schools

    @activity.defn
    async def record_list_step(self, req: RecordListStep) -> None:
        events: list[Event] = [ReviewListDecided(school=req.school, state=req.state, reasons=req.reasons)]
        if req.locks_year:
            events.append(YearLocked(district=req.ref.district, year=req.ref.year, approved_by=req.ref.actor))
        await self._append(req.ref, req.step, events)

    @activity.defn
    async def remind_review(self, req: RemindReview) -> int:
        """Queue one message per school still waiting (to the configured webhook) with the ReviewReminded event."""
        ref = req.ref
        metadata = self._metadata(ref, req.occurrence)
        messages = [
            OutboxMessage(
                reminder=reminder_key("annual-review", school, f"{ref.stream_id}/{req.occurrence}"),
                cohort_id=ref.stream_id,
                stream_id=ref.stream_id,
                rule="annual-review",
                occurrence=req.occurrence,
                recipient=school,
                participant_id=None,
                channel="webhook",
                address=None,
                locale="zh",
                subject=f"{ref.year} 年度学分审核提醒",
                body=(
                    f"{school}：{ref.district} 区县 {ref.year} 年度学分审核截止日期为 {req.deadline}，"
                    "请尽快提交并完成审核。"
                ),
                time_zone=DEFAULT_TIME_ZONE,
                quiet_start=time(22, 0),
                quiet_end=time(7, 0),
                status="pending",
                last_error=None,
                next_attempt_at=req.due_at,
                actor=ref.actor,
                workflow_id=ref.stream_id,
                programme_id="",
                programme_version=0,
            )
            for school in req.schools
        ]
        event = ReviewReminded(occurrence=req.occurrence, schools=req.schools)
        async with self.store.pool.connection() as conn, conn.transaction():
            queued = await enqueue(conn, messages)
            await self.store.append_in(
                conn,
                ref.stream_id,
                [NewEvent(event.TYPE, event.payload(), metadata, event.SCHEMA_VERSION)],
                idempotency_key=f"{ref.stream_id}/{req.occurrence}",
            )
        structlog.get_logger().info("review reminders queued", review=ref.stream_id, queued=queued)
        return queued

    async def _append(self, ref: ReviewRef, step: str, events: list[Event]) -> None:
        metadata = self._metadata(ref, step)
        await self.store.append(
            ref.stream_id,
            [NewEvent(e.TYPE, e.payload(), metadata, e.SCHEMA_VERSION) for e in events],
            idempotency_key=f"{ref.stream_id}/{step}",
        )

    @staticmethod
    def _metadata(ref: ReviewRef, step: str) -> dict[str, object]:
        return Metadata(
            actor=ref.actor, workflow_id=ref.stream_id, programme_id="", programme_version=0, step=step
        ).model_dump()


def reminder_moments(deadline: date) -> list[tuple[str, datetime]]:
    """When the schools still waiting are reminded: a week before the deadline and on its morning (09:00 China)."""
    morning = datetime.combine(deadline, time(9, 0), PROVINCE_ZONE)
    return [("week-before", morning - timedelta(days=7)), ("deadline", morning)]
