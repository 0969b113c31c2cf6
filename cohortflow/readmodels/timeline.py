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
from sqlalchemy import BindParameter, bindparam, cast, func, or_, select, union_all
from sqlalchemy.dialects.postgresql import JSONB

from cohortflow.domain.cohort_stream import cohort_stream
from cohortflow.domain.decoding import decode
from cohortflow.domain.events import SelectionDecided
from cohortflow.domain.phrases import phrase
from cohortflow.readmodels.queries import Source, connection
from cohortflow.store import tables as t
from cohortflow.store.eventstore import EventStore
from cohortflow.store.sql import Statement, execute


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


def _timeline() -> Statement:
    """The same two halves as EventStore.read_participant_timeline, each served by the participant index: the
    participant's own events, and the selection decisions (about nobody in particular) that name them."""
    e = t.events
    participant: BindParameter[str] = bindparam("participant")
    about = func.coalesce(e.c.data["participant_id"].astext, "")  # the events_by_participant index's expression
    entry = select(
        e.c.position,
        e.c.stream_version,
        e.c.type,
        e.c.recorded_at,
        func.coalesce(e.c.metadata["actor"].astext, ""),
        func.coalesce(e.c.metadata["step"].astext, ""),
        e.c.data,
        e.c.schema_version,
    ).where(e.c.stream_id == bindparam("stream"))
    own = entry.where(about == participant)
    named = entry.where(
        about == "",
        e.c.type == SelectionDecided.TYPE,
        # ``?`` is JSONB's: the stored json is cast (chain format 2 keeps the text as hashed).
        or_(
            cast(e.c.data["selected"], JSONB).has_key(participant),
            cast(e.c.data["waiting_list"], JSONB).has_key(participant),
        ),
    )
    both = union_all(own, named)
    return Statement(both.order_by(both.selected_columns.stream_version))


TIMELINE = _timeline()
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
        cur = await execute(conn, TIMELINE, stream=cohort_stream(cohort_id), participant=participant_id)
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
