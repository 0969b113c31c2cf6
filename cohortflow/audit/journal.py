"""Every audit query is itself recorded: who asked what, when, and what they were told."""

from __future__ import annotations

import uuid

from cohortflow.domain.events import AuditQueried
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import NewEvent

AUDIT_STREAM = "audit"


async def record_query(store: EventStore, actor: str, query: str, params: dict[str, str], outcome: str) -> int:
    event = AuditQueried(query=query, params=params, outcome=outcome)
    result = await store.append(
        AUDIT_STREAM,
        [NewEvent(event.TYPE, event.payload(), {"actor": actor, "step": f"audit/{query}"})],
        idempotency_key=f"audit/{uuid.uuid4()}",
    )
    return result.last_position
