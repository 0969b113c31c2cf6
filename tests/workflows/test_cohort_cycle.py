"""The cohort cycle end to end on the time-skipping server, with real activities and store."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from cohortflow.audit.histories import run_chain
from cohortflow.audit.verify import verify_store
from cohortflow.demo.sample import sample_programme
from cohortflow.domain.programme import ProgrammeInvalid
from cohortflow.readmodels.cohort_summary import cohort_summary
from cohortflow.services.cohorts import CohortExists, start_cohort
from cohortflow.store.eventstore import EventStore
from cohortflow.workflows.cohort_cycle import (
    ClosePhase,
    CohortCycleInput,
    CohortCycleWorkflow,
    ExtendDeadline,
    Withdraw,
    workflow_id,
)
from tests.workflows.helpers import (
    event_types,
    feed_phase,
    feed_until_done,
    first_run_id,
    running_worker,
    wait_for_status,
)

CANDIDATES, SELECTED = 300, 40


def cycle_input(cohort_id: str, **kw: object) -> CohortCycleInput:
    return CohortCycleInput(cohort_id=cohort_id, programme=sample_programme(CANDIDATES, SELECTED), **kw)


async def test_full_multi_year_cycle(
    time_skipping: WorkflowEnvironment, store: EventStore, task_queue: str, tmp_path: Path
) -> None:
    client = time_skipping.client
    inp = cycle_input("full")
    async with running_worker(client, store, task_queue, tmp_path):
        handle = await start_cohort(client, inp, task_queue)
        await feed_until_done(time_skipping, store, tmp_path, "full", inp.programme, seed=7)
        result = await handle.result()
        histories = await run_chain(client, handle.id, first_run_id(handle))

    counts = await event_types(store, "full")
    assert result.counters.candidates == counts["CandidateNominated"] == CANDIDATES
    assert result.counters.selected == SELECTED
    assert counts["StudyHoursRecorded"] == CANDIDATES
    assert counts["SelectionDecided"] == 1
    assert counts["FieldPlacementAssigned"] == SELECTED
    assert counts["FieldBatchCompleted"] == 6  # 3 sites x 2 batches, one child workflow per site
    assert counts["PhaseOpened"] == counts["PhaseClosed"] == 7
    assert counts["SurveyResponded"] > 0 and counts["ReturnReportSubmitted"] > 0
    assert 0 < result.counters.completed == counts["ParticipantCompleted"] <= SELECTED
    assert counts["CohortCompleted"] == 1
    assert result.counters.credit_hours > 0
    assert (await verify_store(store)).ok

    events = [e async for e in store.read_stream("cohort-full")]
    started = datetime.fromisoformat(events[0].data["started_at"])
    last_deadline = datetime.fromisoformat([e for e in events if e.type == "PhaseOpened"][-1].data["deadline"])
    assert last_deadline - started >= timedelta(days=1015)  # the timers really spanned the programme's years
    # Continue-as-new at every phase boundary: one run per phase, each history small.
    assert len(histories) == 7
    assert max(len(h.events) for h in histories) < 300
    assert all(e.metadata["workflow_id"] == "cohort-full" for e in events)
    summary = await cohort_summary(store, "full")
    assert summary.funnel["nominated"] == CANDIDATES and summary.funnel["selected"] == SELECTED
    assert summary.funnel["completed"] == result.counters.completed
    assert summary.credit_hours == result.counters.credit_hours
    assert sum(p.counts["nominated"] for p in summary.prefectures) == CANDIDATES
    assert {e.metadata["programme_version"] for e in events} == {1}


async def test_admin_updates_are_answered_or_refused(
    time_skipping: WorkflowEnvironment, store: EventStore, task_queue: str, tmp_path: Path
) -> None:
    client = time_skipping.client
    inp = cycle_input("steer")
    async with running_worker(client, store, task_queue, tmp_path):
        handle = await start_cohort(client, inp, task_queue)
        await feed_phase(client, store, tmp_path, "steer", inp.programme, "nomination", seed=7)
        status = await wait_for_status(client, handle.id, lambda s: s.counters.candidates > 0)
        assert status.phase == "nomination" and status.deadline is not None
        wf = client.get_workflow_handle_for(CohortCycleWorkflow.run, handle.id)

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await wf.execute_update(CohortCycleWorkflow.close_phase, ClosePhase(phase="selection", reason="x"))
        assert "selection is not open; the open phase is nomination" in str(refused.value.cause)

        later = status.deadline + timedelta(days=10)
        extended = await wf.execute_update(
            CohortCycleWorkflow.extend_deadline,
            ExtendDeadline(phase="nomination", new_deadline=later, reason="两个市州申请延期"),
        )
        assert extended.deadline == later
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await wf.execute_update(
                CohortCycleWorkflow.extend_deadline,
                ExtendDeadline(phase="nomination", new_deadline=status.deadline, reason="earlier"),
            )
        assert "is not after the current one" in str(refused.value.cause)

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await wf.execute_update(
                CohortCycleWorkflow.withdraw_participant, Withdraw(participant_id="P999999", reason="x")
            )
        assert "P999999 is not in this cohort" in str(refused.value.cause)

        early = await wf.execute_update(
            CohortCycleWorkflow.withdraw_participant, Withdraw(participant_id="P000001", reason="调动工作")
        )
        assert early.outcome == "withdrawn" and early.replaced_by is None
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await wf.execute_update(
                CohortCycleWorkflow.withdraw_participant, Withdraw(participant_id="P000001", reason="again")
            )
        assert "already been withdrawn" in str(refused.value.cause)

        closing = await wf.execute_update(
            CohortCycleWorkflow.close_phase, ClosePhase(phase="nomination", reason="名额已满", actor="admin-li")
        )
        assert closing.outcome == "closing"
        await feed_phase(client, store, tmp_path, "steer", inp.programme, "online_study", seed=7)

        # Let the programme run until the selection is decided: online study, then selection opens
        # on day 120: nomination closed early, before its first deadline, so its extension pushed nothing back.
        await time_skipping.sleep(timedelta(days=125))
        selected = await wait_for_status(
            client, handle.id, lambda s: s.phase == "selection" and s.counters.selected > 0
        )
        assert selected.counters.candidates == CANDIDATES
        (decision,) = [e async for e in store.read_stream("cohort-steer", types=["SelectionDecided"])]
        chosen = decision.data
        leaving, first_waiting = chosen["selected"][0], chosen["waiting_list"][0]
        replaced = await wf.execute_update(
            CohortCycleWorkflow.withdraw_participant, Withdraw(participant_id=leaving, reason="病假")
        )
        assert replaced.replaced_by == first_waiting
        result = await handle.result()

    events = [e async for e in store.read_stream("cohort-steer")]
    closed = next(e for e in events if e.type == "PhaseClosed" and e.data["phase"] == "nomination")
    assert closed.data["closed_early"] is True and "admin-li" in closed.data["reason"]
    extension = next(e for e in events if e.type == "DeadlineExtended")
    assert extension.data["reason"] == "两个市州申请延期" and extension.metadata["actor"] == "admin"
    withdrawn = {e.data["participant_id"] for e in events if e.type == "ParticipantWithdrawn"}
    assert withdrawn == {"P000001", leaving}
    credited = {e.data["participant_id"] for e in events if e.type == "CreditAwarded"}
    assert not credited & withdrawn
    placed = {e.data["participant_id"] for e in events if e.type == "FieldPlacementAssigned"}
    assert first_waiting in placed and leaving not in placed and len(placed) == SELECTED
    assert result.counters.selected == SELECTED


async def test_starting_an_existing_cohort_is_refused(
    time_skipping: WorkflowEnvironment, store: EventStore, task_queue: str
) -> None:
    client = time_skipping.client
    async with running_worker(client, store, task_queue):
        handle = await start_cohort(client, cycle_input("twice"), task_queue)
        with pytest.raises(CohortExists, match="twice already exists"):
            await start_cohort(client, cycle_input("twice"), task_queue)
        await handle.result()
        with pytest.raises(CohortExists):
            await start_cohort(client, cycle_input("twice"), task_queue)
    assert (await event_types(store, "twice"))["CohortStarted"] == 1


async def test_self_contradictory_programme_is_refused_before_start(
    time_skipping: WorkflowEnvironment, task_queue: str
) -> None:
    good = sample_programme(CANDIDATES, SELECTED)
    bad = good.model_copy(update={"candidates": 10})
    with pytest.raises(ProgrammeInvalid) as refused:
        await start_cohort(time_skipping.client, CohortCycleInput(cohort_id="bad", programme=bad), task_queue)
    assert any("quotas add up to 300, but candidates is 10" in p for p in refused.value.problems)
    assert any("selection target 40 is above the number of candidates 10" in p for p in refused.value.problems)
    with pytest.raises(Exception, match="not found"):
        await time_skipping.client.get_workflow_handle(workflow_id("bad")).describe()
