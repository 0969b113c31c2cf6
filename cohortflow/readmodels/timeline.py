"""One participant's history in a cohort, event by event, straight from the log.

Read through the ``events_by_participant`` index: the participant's own events
and the cohort's own (those about nobody in particular), of which only the
selection decisions that name them are kept. Only the columns a timeline shows
are read (the actor and step are taken out of the metadata by PostgreSQL); each
event's data is decoded through its typed model, upcast from any older shape.
Nothing is masked here; callers mask by role.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from cohortflow.domain.cohort_stream import cohort_stream
from cohortflow.domain.decoding import decode
from cohortflow.domain.phrases import phrase
from cohortflow.readmodels.queries import Source, connection
from cohortflow.store.eventstore import EventStore


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


# The same two halves as EventStore.read_participant_timeline, each served by the participant index.
_ENTRY = (
    "SELECT position, stream_version, type, recorded_at, coalesce(metadata->>'actor', ''),"
    " coalesce(metadata->>'step', ''), data, schema_version FROM events WHERE stream_id = %(s)s"
)
TIMELINE_SQL = (
    f"{_ENTRY} AND coalesce(data->>'participant_id', '') = %(p)s "
    f"UNION ALL {_ENTRY} AND coalesce(data->>'participant_id', '') = '' AND type = 'SelectionDecided' "
    "AND ((data->'selected')::jsonb ? %(p)s OR (data->'waiting_list')::jsonb ? %(p)s) "
    "ORDER BY stream_version"
)
_FIELDS = tuple(TimelineEntry.model_fields)


def _entry(row: tuple[Any, ...]) -> TimelineEntry:
    """One row as the timeline shows it: its data decoded (and upcast) once, as every reader of the log does."""
    *columns, data, version = row
    event = decode(columns[2], version, data)
    return TimelineEntry.model_validate(dict(zip(_FIELDS, (*columns, event.payload()), strict=True)))


async def participant_timeline(source: EventStore | Source, cohort_id: str, participant_id: str) -> Timeline:
    """Every event about the participant in recording order; LookupError if they were never nominated.

    ``source`` is the store, its pool, or a connection the caller already holds (one statement runs on it).
    """
    async with connection(source.pool if isinstance(source, EventStore) else source) as conn:
        cur = await conn.execute(TIMELINE_SQL, {"s": cohort_stream(cohort_id), "p": participant_id})
        rows = await cur.fetchall()
    entries = [_entry(row) for row in rows]
    if not any(e.type == "CandidateNominated" for e in entries):
        raise LookupError(
            phrase(
                "participant {participant_id} was not nominated to cohort {cohort_id}",
                participant_id=participant_id,
                cohort_id=cohort_id,
            )
        )
    return Timeline(cohort_id=cohort_id, participant_id=participant_id, entries=entries)
