"""Every audit query is itself recorded: who asked what, when, and what they were told."""

from __future__ import annotations

import uuid

import structlog

from cohortflow.audit.verify import ChainReport
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


async def record_verification(store: EventStore, actor: str, params: dict[str, str], report: ChainReport) -> None:
    """Journal a verification, but only of an intact chain.

    Appending to a chain just found broken would move its head: a truncation would
    then be reported at another position on every run, and after a few runs read as
    a rewrite. A broken chain's verification goes to the log instead, so every run
    names the same break.
    """
    if report.ok:
        await record_query(store, actor, "verify", params, "intact")
        return
    first = report.breaks[0]
    structlog.get_logger().warning(
        "chain verification found a break; nothing recorded in the broken store",
        actor=actor,
        scope=report.scope,
        kind=first.kind,
        position=first.position,
        **params,
    )
