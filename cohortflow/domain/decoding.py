"""A stored event decoded once: its payload as the typed model of its type, upcast from any older shape.

Every reader that folds the log (the facts the activities decide from, the
read models, a participant's timeline, a state as of a past moment) decodes
through :func:`decode`, so an event's meaning is written in one place: its
model in :mod:`cohortflow.domain.events`. When a type's shape changes, its
``SCHEMA_VERSION`` goes up and one upcaster, keyed by the type and the
version it reads, turns a payload of that version into the next; older
payloads climb the chain on read and the stored history is never rewritten
(its hashes must keep verifying).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from cohortflow.domain import events
from cohortflow.domain.events import Event

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


def _event_types() -> dict[str, type[Event]]:
    found = [
        cls for cls in vars(events).values() if isinstance(cls, type) and issubclass(cls, Event) and cls is not Event
    ]
    return {cls.TYPE: cls for cls in found}


EVENT_TYPES: Mapping[str, type[Event]] = _event_types()
"""Every event type by its stored name."""

UPCASTERS: Mapping[tuple[str, int], Upcaster] = {}
"""``(type, version) -> upcaster`` from that version's payload to the next version's. Every type is still at
version 1, so there is none yet; the first shape change adds its entry here."""


class UndecodableEvent(ValueError):
    """A stored event this code cannot read: an unknown type, or a version with no way up to the current one."""


def upcast(
    kind: str, version: int, data: Payload, upcasters: Mapping[tuple[str, int], Upcaster] = UPCASTERS
) -> Payload:
    """``data`` of ``kind`` at ``version``, brought up to the type's current schema version."""
    model = event_type(kind)
    if version > model.SCHEMA_VERSION:
        raise UndecodableEvent(f"{kind} version {version} is newer than this code ({model.SCHEMA_VERSION})")
    while version < model.SCHEMA_VERSION:
        step = upcasters.get((kind, version))
        if step is None:
            raise UndecodableEvent(f"{kind} version {version} has no upcaster to version {version + 1}")
        data, version = step(data), version + 1
    return data


def event_type(kind: str) -> type[Event]:
    model = EVENT_TYPES.get(kind)
    if model is None:
        raise UndecodableEvent(f"unknown event type {kind}")
    return model


def decode(kind: str, version: int, data: Payload, upcasters: Mapping[tuple[str, int], Upcaster] = UPCASTERS) -> Event:
    """The typed event; :class:`UndecodableEvent` if it cannot be read."""
    try:
        return event_type(kind).model_validate(upcast(kind, version, data, upcasters))
    except ValidationError as exc:
        raise UndecodableEvent(f"{kind} version {version} does not match its model: {exc}") from None
