"""A district's annual review against the real store and a time-skipping Temporal server: opened with the
district's schools, a list returned and then approved, the schools still waiting reminded before the deadline,
and the year locked when the last list is approved."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from cohortflow.activities.reviews import review_id
from cohortflow.readmodels.credits import CHINA
from cohortflow.services.credit_bank import credit_bank
from cohortflow.store.eventstore import EventStore
from cohortflow.workflows.annual_review import AnnualReviewInput, AnnualReviewWorkflow, ListStep, ReviewStatus
from tests.credit_bank.test_bank_workflow import PEOPLE, people
from tests.workflows.helpers import running_worker

DISTRICT = "510104"
OTHER_SCHOOL = "李老师,11010119850512234X,教师,,第一中学"


@pytest.fixture
async def review(
    time_skipping: WorkflowEnvironment, store: EventStore, task_queue: str, tmp_path: Path
) -> AsyncIterator[WorkflowHandle[Any, ReviewStatus]]:
    uploads = tmp_path / "uploads"
    async with running_worker(time_skipping.client, store, task_queue, uploads):
        bank = await credit_bank(time_skipping.client, task_queue)
        await people(bank, uploads, PEOPLE.replace(OTHER_SCHOOL, OTHER_SCHOOL.replace("第一中学", "第二中学")))
        today = (await time_skipping.get_current_time()).astimezone(CHINA).date()
        inp = AnnualReviewInput(district=DISTRICT, year=today.year - 1, deadline=today + timedelta(days=30))
        handle = await time_skipping.client.start_workflow(
            AnnualReviewWorkflow.run, inp, id=review_id(DISTRICT, inp.year), task_queue=task_queue
        )
        while not (await handle.query(AnnualReviewWorkflow.status)).schools:
            await asyncio.sleep(0.05)  # opening reads the registry
        yield handle


async def step(handle: WorkflowHandle[Any, ReviewStatus], update: Any, school: str, **more: Any) -> ReviewStatus:
    status: ReviewStatus = await handle.execute_update(update, ListStep(school=school, actor="reviewer-1", **more))
    return status


async def test_a_list_returned_then_approved_and_the_last_approval_locks_the_year(
    review: WorkflowHandle[Any, ReviewStatus], store: EventStore, time_skipping: WorkflowEnvironment
) -> None:
    with pytest.raises(WorkflowUpdateFailedError) as early:
        await step(review, AnnualReviewWorkflow.approve, "第一中学")
    assert "is open; only a submitted list is decided" in str(early.value.cause)
    await step(review, AnnualReviewWorkflow.submit, "第一中学")
    with pytest.raises(WorkflowUpdateFailedError) as silent:
        await step(review, AnnualReviewWorkflow.return_list, "第一中学", reasons=[" "])
    assert "needs a reason" in str(silent.value.cause)
    returned = await step(review, AnnualReviewWorkflow.return_list, "第一中学", reasons=["校本研修学时缺少签到表"])
    first = next(s for s in returned.schools if s.school == "第一中学")
    assert (first.state, first.reasons, first.decided_by) == ("returned", ["校本研修学时缺少签到表"], "reviewer-1")

    await step(review, AnnualReviewWorkflow.submit, "第一中学")
    await step(review, AnnualReviewWorkflow.approve, "第一中学")
    # A week before the deadline the school still waiting is reminded, once.
    await time_skipping.sleep(timedelta(days=24))
    status: ReviewStatus = await review.query(AnnualReviewWorkflow.status)
    assert not status.locked
    await step(review, AnnualReviewWorkflow.submit, "第二中学")
    locked = await step(review, AnnualReviewWorkflow.approve, "第二中学")
    assert (locked.locked, locked.approved_by) == (True, "reviewer-1")
    assert (await review.result()).locked

    events = [e async for e in store.read_stream(review.id)]
    assert [e.type for e in events] == [
        "ReviewOpened",
        "ReviewListDecided",
        "ReviewListDecided",
        "ReviewListDecided",
        "ReviewListDecided",
        "ReviewReminded",
        "ReviewListDecided",
        "ReviewListDecided",
        "YearLocked",
    ]
    assert events[0].data["schools"] == ["第一中学", "第二中学"]
    assert events[5].data == {"occurrence": "week-before", "schools": ["第二中学"]}
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT recipient, channel FROM reminder_outbox WHERE stream_id = %s", (review.id,))
        assert await cur.fetchall() == [("第二中学", "webhook")]
    with pytest.raises(RPCError, match="not found"):  # the review has ended: nothing more is taken
        await step(review, AnnualReviewWorkflow.submit, "第一中学")
