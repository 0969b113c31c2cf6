"""A district's annual review against the real store and a time-skipping Temporal server: opened with the
district's schools, a list returned and then approved, the schools still waiting reminded before the deadline,
and the year locked when the last list is approved."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from cohortflow.activities.credit_bank import CreditReversal, Reversed
from cohortflow.domain.credit_bank.review import review_id
from cohortflow.domain.vocabulary import PROVINCE_ZONE
from cohortflow.services.credit_bank import credit_bank
from cohortflow.store.eventstore import EventStore
from cohortflow.workflows.annual_review import AnnualReviewInput, AnnualReviewWorkflow, ListStep, ReviewStatus
from cohortflow.workflows.credit_bank import CreditBankWorkflow
from tests.credit_bank.test_bank_workflow import PEOPLE, TEACHER, credits, people
from tests.workflows.helpers import running_worker

DISTRICT = "510104"
HEADER = "身份证号,培训名称,学时,级别,结束日期\n"
OTHER_SCHOOL = "李老师,11010119850512234X,教师,,第一中学"


@dataclass
class Reviewed:
    bank: WorkflowHandle[Any, Any]
    review: WorkflowHandle[Any, ReviewStatus]
    uploads: Path


@pytest.fixture
async def reviewed(
    time_skipping: WorkflowEnvironment, store: EventStore, task_queue: str, tmp_path: Path
) -> AsyncIterator[Reviewed]:
    uploads = tmp_path / "uploads"
    async with running_worker(time_skipping.client, store, task_queue, uploads):
        bank = await credit_bank(time_skipping.client, task_queue)
        await people(bank, uploads, PEOPLE.replace(OTHER_SCHOOL, OTHER_SCHOOL.replace("第一中学", "第二中学")))
        today = (await time_skipping.get_current_time()).astimezone(PROVINCE_ZONE).date()
        await credits(
            bank, uploads, f"身份证号,培训名称,学时,级别,结束日期\n{TEACHER},校本教研,6,校级,{today.year - 1}-06-30\n"
        )
        inp = AnnualReviewInput(district=DISTRICT, year=today.year - 1, deadline=today + timedelta(days=30))
        handle = await time_skipping.client.start_workflow(
            AnnualReviewWorkflow.run, inp, id=review_id(DISTRICT, inp.year), task_queue=task_queue
        )
        while not (await handle.query(AnnualReviewWorkflow.status)).schools:
            await asyncio.sleep(0.05)  # opening reads the registry
        yield Reviewed(bank, handle, uploads)


async def step(handle: WorkflowHandle[Any, ReviewStatus], update: Any, school: str, **more: Any) -> ReviewStatus:
    status: ReviewStatus = await handle.execute_update(update, ListStep(school=school, actor="reviewer-1", **more))
    return status


async def test_a_list_returned_then_approved_and_the_last_approval_locks_the_year(
    reviewed: Reviewed, store: EventStore, time_skipping: WorkflowEnvironment
) -> None:
    review = reviewed.review
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


async def test_a_locked_year_refuses_new_credits_and_takes_only_reversals_naming_its_approver(
    reviewed: Reviewed, store: EventStore
) -> None:
    review, bank = reviewed.review, reviewed.bank
    for school in ("第一中学", "第二中学"):
        await step(review, AnnualReviewWorkflow.submit, school)
        locked = await step(review, AnnualReviewWorkflow.approve, school)
    assert locked.locked  # the lock is recorded with the last approval, before the review's workflow ends
    year = locked.year

    late = await credits(
        bank, reviewed.uploads, f"身份证号,培训名称,学时,级别,结束日期\n{TEACHER},补录,6,校级,{year}-12-01\n"
    )
    assert late.problems == [
        f"row 2, earned_on: {year} is approved and locked for district {DISTRICT} (by reviewer-1); "
        "it takes no new entries"
    ]
    key = (await store.person_keys()).of(TEACHER)
    [entry] = [e async for e in store.read_stream(f"person-{key}", types=["BankCreditRecorded"])]
    undo = CreditReversal(person_key=key, entry_id=entry.data["entry_id"], reason="未参加")
    with pytest.raises(WorkflowUpdateFailedError) as unnamed:
        await bank.execute_update(CreditBankWorkflow.reverse_credit, undo)
    assert "a reversal in it names that approver" in str(unnamed.value.cause)
    done: Reversed = await bank.execute_update(
        CreditBankWorkflow.reverse_credit, undo.model_copy(update={"approver": "reviewer-1"})
    )
    [reversed_] = [e async for e in store.read_stream(f"person-{key}", types=["BankCreditReversed"])]
    assert (reversed_.data["entry_id"], reversed_.data["locked_by"]) == (done.entry_id, "reviewer-1")
