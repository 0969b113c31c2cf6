"""One participant's history, in order, with the selection that named them and who did what."""

from __future__ import annotations

import pytest

from cohortflow.domain.completion import completers
from cohortflow.readmodels.queries import read_only
from cohortflow.readmodels.timeline import participant_timeline
from cohortflow.store.eventstore import EventStore
from tests.readmodels import write_cohort


async def test_a_selected_participants_timeline_runs_from_nomination_to_completion(store: EventStore) -> None:
    w = await write_cohort(store, "t", seed=31)
    await write_cohort(store, "other", seed=31, until="selection")  # the same people in another cohort
    pid = completers(w.facts, w.programme)[0]
    timeline = await participant_timeline(store, "t", pid)
    positions = [e.position for e in timeline.entries]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    kinds = [e.type for e in timeline.entries]
    assert kinds[0] == "CandidateNominated" and kinds.count("SelectionDecided") == 1
    steps = ("SelectionDecided", "FieldPlacementAssigned", "FieldAttendanceRecorded", "ReturnReportSubmitted")
    assert [kinds.index(k) for k in steps] == sorted(kinds.index(k) for k in steps)
    assert kinds.index("ReturnReportSubmitted") < kinds.index("ParticipantCompleted")
    assert "PhaseOpened" not in kinds and "FieldBatchCompleted" not in kinds  # the cohort's, not theirs
    assert all(e.data.get("participant_id", pid) == pid for e in timeline.entries)
    nomination = timeline.entries[0]
    assert nomination.actor == "system:test" and nomination.data["national_id"]  # unmasked: callers mask
    assert {e.cohort_id for e in [timeline]} == {"t"}
    expected = sum(1 for e in w.ledger.entries if e.participant_id == pid)
    assert kinds.count("CreditAwarded") + kinds.count("CreditReversed") == expected


async def test_corrections_show_who_made_them_and_unknown_people_are_refused(store: EventStore) -> None:
    w = await write_cohort(store, "t", seed=32, until="online_study")
    corrected = "P000004"  # the fourth nominee's hours are corrected by the builder
    timeline = await participant_timeline(store, "t", corrected)
    fix = [e for e in timeline.entries if e.type == "FactCorrected"]
    assert [(e.actor, e.data["field"], e.data["value"]) for e in fix] == [("admin:zhang", "hours", 99.5)]
    assert w.facts.participants[corrected].hours == 99.5
    not_selected = await participant_timeline(store, "t", "P000002")
    assert [e.type for e in not_selected.entries] == ["CandidateNominated"]  # never studied, never selected
    with pytest.raises(LookupError, match="P999999"):
        await participant_timeline(store, "t", "P999999")
    with pytest.raises(LookupError):
        await participant_timeline(store, "nope", "P000001")


async def test_the_timeline_shows_the_stored_events_and_reads_on_a_held_connection(store: EventStore) -> None:
    w = await write_cohort(store, "t", seed=33)
    pid = completers(w.facts, w.programme)[0]
    stored = await store.read_participant_timeline("cohort-t", pid)
    expected = [
        (e.position, e.stream_version, e.type, e.recorded_at, e.metadata["actor"], e.metadata["step"], e.data)
        for e in stored
    ]
    async with read_only(store.pool) as conn:
        timeline = await participant_timeline(conn, "t", pid)
        with pytest.raises(LookupError, match="P999999"):
            await participant_timeline(conn, "t", "P999999")
    shown = [(e.position, e.stream_version, e.type, e.recorded_at, e.actor, e.step, e.data) for e in timeline.entries]
    assert shown == expected and len(shown) > 5
    assert (await participant_timeline(store.pool, "t", pid)) == timeline == await participant_timeline(store, "t", pid)
