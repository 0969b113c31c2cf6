"""The hash chain over the global event log.

Each event's hash is SHA-256 over the previous event's hash and the event's
canonical record bytes, so changing, removing or reordering any event breaks
every hash after it. The record format is deliberately plain (fields joined by
the ASCII unit separator, which canonical JSON always escapes) so that a
verifier needing only the standard library can recompute it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from cohortflow.domain.canonical import canonical_json
from cohortflow.store.records import StoredEvent

GENESIS = "0" * 64
_SEP = "\x1f"


def timestamp_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def record_bytes(
    *,
    position: int,
    stream_id: str,
    stream_version: int,
    type: str,
    schema_version: int,
    data_json: str,
    metadata_json: str,
    recorded_at: str,
    idempotency_key: str,
) -> bytes:
    """``recorded_at`` as :func:`timestamp_text` writes it (computed once per batch by appends)."""
    return (
        f"{position}{_SEP}{stream_id}{_SEP}{stream_version}{_SEP}{type}{_SEP}{schema_version}{_SEP}"
        f"{data_json}{_SEP}{metadata_json}{_SEP}{recorded_at}{_SEP}{idempotency_key}"
    ).encode()


def chain_hash(prev_hash: str, record: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + record).hexdigest()


def event_hash(prev_hash: str, event: StoredEvent) -> str:
    """Recompute an event's hash from what the store returned for it."""
    record = record_bytes(
        position=event.position,
        stream_id=event.stream_id,
        stream_version=event.stream_version,
        type=event.type,
        schema_version=event.schema_version,
        data_json=canonical_json(event.data),
        metadata_json=event.metadata_json or canonical_json(event.metadata),
        recorded_at=timestamp_text(event.recorded_at),
        idempotency_key=event.idempotency_key,
    )
    return chain_hash(prev_hash, record)
