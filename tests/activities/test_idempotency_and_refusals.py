"""Activities run for real (ActivityEnvironment) against the store: retries and refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from cohortflow.activities import Activities
from cohortflow.activities.base import CohortRef
from cohortflow.activities.completion import CompleteCohort
from cohortflow.activities.cycle_records import RecordCohortStarted
from cohortflow.activities.reminders import QueueReminders
from cohortflow.activities.withdrawal import WithdrawParticipant
from cohortflow.demo.feeding import import_in
from cohortflow.demo.phase_feed import nominees, online_study
from cohortflow.demo.sample import sample_programme
from cohortflow.domain.programme import Programme
from cohortflow.domain.reminder_schedule import ReminderDue
from cohortflow.readmodels.cohort_facts import cohort_facts
from cohortflow.store.eventstore import EventStore

REF = CohortRef(cohort_id="c1", workflow_id="cohort-c1")


def started(ref: CohortRef = REF, programme: Programme | None = None) -> RecordCohortStarted:
    return RecordCohortStarted(
        ref=ref,
        programme=programme or sample_programme(300, 40),
        started_at=datetime(2026, 3, 1, tzinfo=UTC),
        day_seconds=86400,
    )


async def count(store: EventStore) -> int:
    return (await store.head()).position


async def test_retried_batch_activity_appends_nothing_twice(store: EventStore, tmp_path: Path) -> None:
    acts, env = Activities(store, tmp_path), ActivityEnvironment()
    await env.run(acts.record_cohort_started, started())
    sheet = nominees(sample_programme(300, 40), seed=1)
    first = await import_in(env, acts, REF, sheet)
    before = await count(store)
    retry = await import_in(env, acts, REF, sheet)
    assert (first.status, first.applied) == ("applied", 300)
    assert retry.status == "duplicate"
    assert await count(store) == before
    # A retry of the start itself is a no-op too.
    await env.run(acts.record_cohort_started, started())
    assert await count(store) == before == 302  # the start, 300 nominations and the import's own record


async def test_second_cohort_with_the_same_id_is_refused_for_good(store: EventStore) -> None:
    acts, env = Activities(store), ActivityEnvironment()
    await env.run(acts.record_cohort_started, started())
    with pytest.raises(ApplicationError) as refused:
        await env.run(acts.record_cohort_started, started(CohortRef(cohort_id="c1", workflow_id="elsewhere")))
    assert refused.value.non_retryable and "cohort c1 already exists" in refused.value.message
    assert await count(store) == 1


async def test_domain_refusals_are_final_and_name_the_record(store: EventStore, tmp_path: Path) -> None:
    acts, env = Activities(store, tmp_path), ActivityEnvironment()
    with pytest.raises(ApplicationError) as refused:
        await import_in(env, acts, REF, nominees(sample_programme(300, 40), seed=1))
    assert refused.value.non_retryable and refused.value.type == "NotStarted"
    assert "cohort c1 has not been started" in refused.value.message

    await env.run(acts.record_cohort_started, started())
    bad = WithdrawParticipant(ref=REF, request_id="u1", participant_id="P424242", reason="x", phase="nomination")
    with pytest.raises(ApplicationError) as refused:
        await env.run(acts.withdraw_participant, bad)
    assert refused.value.non_retryable and "participant P424242 is not in this cohort" in refused.value.message
    assert await count(store) == 1


async def test_infrastructure_failures_stay_retryable(store: EventStore) -> None:
    acts, env = Activities(store), ActivityEnvironment()
    await store.close()  # the database is unreachable for this activity
    with pytest.raises(Exception) as failed:
        await env.run(acts.record_cohort_started, started())
    assert not isinstance(failed.value, ApplicationError)


async def test_retry_after_a_lost_completion_returns_what_was_recorded(store: EventStore, tmp_path: Path) -> None:
    """The facts move on once a step is recorded; a retry must not decide again from them."""
    acts, env = Activities(store, tmp_path), ActivityEnvironment()
    await env.run(acts.record_cohort_started, started())
    await import_in(env, acts, REF, nominees(sample_programme(300, 40), seed=1))
    people = list((await cohort_facts(store, "c1")).participants.values())
    for file in online_study(people, seed=1):
        await import_in(env, acts, REF, file)

    first = await env.run(acts.complete_cohort, CompleteCohort(ref=REF))
    assert first.credit_entries > 0  # online-study credits for everyone who met the requirement
    before = await count(store)
    assert await env.run(acts.complete_cohort, CompleteCohort(ref=REF)) == first
    assert await count(store) == before

    leave = WithdrawParticipant(ref=REF, request_id="u7", participant_id="P000003", reason="退出", phase="nomination")
    withdrawn = await env.run(acts.withdraw_participant, leave)
    assert await env.run(acts.withdraw_participant, leave) == withdrawn  # not "already withdrawn"
    assert await count(store) == before + 1


async def test_a_digest_fired_before_its_cohort_recorded_the_start_waits_for_it(store: EventStore) -> None:
    """The schedule is made as the cohort's workflow starts: its first run may come before the start is recorded."""
    acts, env = Activities(store), ActivityEnvironment()
    at = datetime(2026, 3, 2, 1, tzinfo=UTC)
    digest = QueueReminders(ref=REF, due=ReminderDue(rule="weekly", occurrence="week-of-2026-03-02", at=at, days=0))
    with pytest.raises(ApplicationError) as waiting:
        await env.run(acts.queue_reminders, digest)
    assert not waiting.value.non_retryable and waiting.value.type == "StartNotRecorded"
    assert "cohort c1 has not been started" in waiting.value.message

    await env.run(acts.record_cohort_started, started(programme=sample_programme(300, 40, digests=True)))
    queued = await env.run(acts.queue_reminders, digest)  # the retry, once the start is recorded
    assert queued.queued == queued.recipients > 0
