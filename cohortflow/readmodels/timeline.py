"""One participant's history in a cohort, event by event, straight from the log.

Read through the ``events_by_participant`` index: the participant's own events
and the cohort's own (those about nobody in particular), of which only the
selection decisions that name them are kept. Nothing is masked here; callers
mask by role.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from cohortflow.store.eventstore import EventStore

# The store's read takes an upper bound on recorded_at; this one admits everything.


class TimelineEntry(BaseModel):
    position: int
    stream_version: int
    type: str
    recorded_at: datetime
    actor: str
    step: str
    data: dict[str, Any]


class Timeline(BaseModel):
    cohort_id: str
    participant_id: str
    entries: list[TimelineEntry]


async def participant_timeline(store: EventStore, cohort_id: str, participant_id: str) -> Timeline:
    """Every event about the participant in recording order; LookupError if they were never nominated."""
    events = await store.read_participant_timeline(f"cohort-{cohort_id}", participant_id)
    entries = [
        TimelineEntry(
            position=e.position,
            stream_version=e.stream_version,
            type=e.type,
            recorded_at=e.recorded_at,
            actor=str(e.metadata.get("actor", "")),
            step=str(e.metadata.get("step", "")),
            data=e.data,
        )
        for e in events
    ]
    if not any(e.type == "CandidateNominated" for e in entries):
        raise LookupError(f"participant {participant_id} was not nominated to cohort {cohort_id}")
    return Timeline(cohort_id=cohort_id, participant_id=participant_id, entries=entries)
