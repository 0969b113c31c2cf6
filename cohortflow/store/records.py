"""Value types going into and coming out of the event store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class NewEvent:
    type: str
    data: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    schema_version: int = 1


@dataclass(frozen=True)
class StoredEvent:
    position: int
    stream_id: str
    stream_version: int
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime
    idempotency_key: str
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class EventPayload:
    """Just what a fold needs: cheaper to read than a whole :class:`StoredEvent`."""

    position: int
    type: str
    data: dict[str, Any]
    schema_version: int = 1


@dataclass(frozen=True)
class AppendResult:
    first_position: int
    last_position: int
    stream_version: int
    duplicate: bool
    """True when the idempotency key had been used: nothing new was appended."""

    @property
    def count(self) -> int:
        return self.last_position - self.first_position + 1


@dataclass(frozen=True)
class HeadDigest:
    """The chain head, to be exported and kept outside the database."""

    position: int
    hash: str
    recorded_at: datetime | None
