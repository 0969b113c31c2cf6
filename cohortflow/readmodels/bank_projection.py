"""The credit bank's part of the projector: people's streams folded into ``rm_people`` and ``rm_bank_entries``.

Called by :class:`cohortflow.readmodels.projector.Projector` with each batch,
inside the batch's transaction, so the bank's tables move with the checkpoint
like every other rm_ table. A batch's registrations and corrections are folded
in memory and written with one upsert; its entries with one ``executemany``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from sqlalchemy import any_, bindparam, select
from sqlalchemy.dialects.postgresql import insert as upsert

from cohortflow.domain.credit_bank.people import PersonFacts
from cohortflow.domain.credit_bank.registry import STREAM_PREFIX
from cohortflow.domain.decoding import decode
from cohortflow.domain.events import BankCreditRecorded, BankCreditReversed, PersonCorrected, PersonRegistered
from cohortflow.store import tables as t
from cohortflow.store.records import StoredEvent
from cohortflow.store.sql import Statement, execute, execute_many

TABLES = (t.rm_bank_entries.name, t.rm_people.name)
PEOPLE_COLUMNS = (*PersonFacts.model_fields, "registered_position", "last_position")
# Spelled out, in the order the rows below are built in: the table's own column order may change.
ENTRY_COLUMNS = (
    "entry_id",
    "person_key",
    "source",
    "title",
    "hours",
    "level",
    "kind",
    "earned_on",
    "days",
    "off_the_job",
    "recorded_by",
    "reverses",
    "reverses_cohort",
    "reason",
    "actor",
    "position",
    "recorded_at",
)
_people = upsert(t.rm_people)
UPSERT_PEOPLE = Statement(
    _people.on_conflict_do_update(
        index_elements=[t.rm_people.c.person_key],
        set_={c: _people.excluded[c] for c in PEOPLE_COLUMNS if c not in ("person_key", "registered_position")},
    )
)
INSERT_ENTRIES = Statement(
    upsert(t.rm_bank_entries).on_conflict_do_nothing(index_elements=[t.rm_bank_entries.c.entry_id])
)
CORRECTED_PEOPLE = Statement(
    select(*(t.rm_people.c[c] for c in PEOPLE_COLUMNS)).where(t.rm_people.c.person_key == any_(bindparam("keys")))
)


async def project_bank(conn: AsyncConnection[TupleRow], events: Sequence[StoredEvent]) -> None:
    """Apply a batch's events of people's streams (others are skipped)."""
    mine = [e for e in events if e.stream_id.startswith(STREAM_PREFIX)]
    if not mine:
        return
    people: dict[str, tuple[PersonFacts, int, int]] = {}
    corrected = {e.data["person_key"] for e in mine if e.type == PersonCorrected.TYPE}
    if corrected:
        cur = await execute(conn, CORRECTED_PEOPLE, keys=list(corrected))
        for row in await cur.fetchall():
            facts = PersonFacts.model_validate(dict(zip(PEOPLE_COLUMNS, row, strict=True)))
            people[facts.person_key] = (facts, int(row[-2]), int(row[-1]))
    entries: list[tuple[Any, ...]] = []
    for stored in mine:
        event = decode(stored.type, stored.schema_version, stored.data)
        actor = str(stored.metadata.get("actor", ""))
        if isinstance(event, PersonRegistered):
            people[event.person_key] = (
                PersonFacts.model_validate(event.model_dump()),
                stored.position,
                stored.position,
            )
        elif isinstance(event, PersonCorrected) and event.person_key in people:
            facts, registered, _ = people[event.person_key]
            people[event.person_key] = (facts.corrected(event.field, event.value), registered, stored.position)
        elif isinstance(event, BankCreditRecorded):
            entries.append(_recorded(event, actor, stored.position, stored.recorded_at))
        elif isinstance(event, BankCreditReversed):
            entries.append(_reversed(event, actor, stored.position, stored.recorded_at))
    if people:
        rows = ((*facts.model_dump().values(), first, last) for facts, first, last in people.values())
        await execute_many(conn, UPSERT_PEOPLE, (dict(zip(PEOPLE_COLUMNS, row, strict=True)) for row in rows))
    if entries:
        await execute_many(conn, INSERT_ENTRIES, (dict(zip(ENTRY_COLUMNS, row, strict=True)) for row in entries))


def _recorded(event: BankCreditRecorded, actor: str, position: int, at: datetime) -> tuple[Any, ...]:
    return (
        event.entry_id,
        event.person_key,
        event.source,
        event.title,
        event.hours,
        event.level,
        event.kind,
        event.earned_on,
        event.days,
        event.off_the_job,
        event.recorded_by,
        None,
        None,
        "",
        actor,
        position,
        at,
    )


def _reversed(event: BankCreditReversed, actor: str, position: int, at: datetime) -> tuple[Any, ...]:
    return (
        event.entry_id,
        event.person_key,
        "reversal",
        "",
        event.hours,
        None,
        None,
        None,
        None,
        None,
        actor,
        event.reverses,
        event.cohort_id,
        event.reason,
        actor,
        position,
        at,
    )
