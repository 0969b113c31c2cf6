"""Stored events decode once, through their typed models, climbing the upcasters from older shapes."""

from __future__ import annotations

from typing import Any

import pytest

from cohortflow.domain import events
from cohortflow.domain.decoding import EVENT_TYPES, UPCASTERS, UndecodableEvent, decode, upcast
from cohortflow.domain.events import Event, StudyHoursRecorded


def test_every_event_model_is_registered_under_its_stored_type() -> None:
    models = {c for c in vars(events).values() if isinstance(c, type) and issubclass(c, Event) and c is not Event}
    assert set(EVENT_TYPES.values()) == models
    assert all(EVENT_TYPES[m.TYPE] is m for m in models)
    # An upcaster reads a version below its type's current one, or it could never run.
    assert all(version < EVENT_TYPES[kind].SCHEMA_VERSION for kind, version in UPCASTERS)


def test_a_current_payload_decodes_to_its_model() -> None:
    assert decode("StudyHoursRecorded", 1, {"participant_id": "P1", "hours": 12}) == StudyHoursRecorded(
        participant_id="P1", hours=12.0
    )


class _Hours(StudyHoursRecorded):
    """A future shape of the study-hours record (version 3: minutes), to exercise the upcaster chain."""

    SCHEMA_VERSION = 3


def test_older_payloads_climb_the_upcasters_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(EVENT_TYPES, "StudyHoursRecorded", _Hours)
    seen: list[int] = []

    def v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
        seen.append(1)
        return {"participant_id": data["pid"], "hours": data["hours"]}

    def v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
        seen.append(2)
        return {**data, "hours": data["hours"] * 2}

    chain = {("StudyHoursRecorded", 1): v1_to_v2, ("StudyHoursRecorded", 2): v2_to_v3}
    assert upcast("StudyHoursRecorded", 1, {"pid": "P1", "hours": 5}, chain) == {"participant_id": "P1", "hours": 10}
    assert seen == [1, 2]
    assert decode("StudyHoursRecorded", 2, {"participant_id": "P1", "hours": 5}, chain) == _Hours(
        participant_id="P1", hours=10
    )
    assert decode("StudyHoursRecorded", 3, {"participant_id": "P1", "hours": 5}, chain) == _Hours(
        participant_id="P1", hours=5
    )
    with pytest.raises(UndecodableEvent, match="version 1 has no upcaster to version 2"):
        decode("StudyHoursRecorded", 1, {"participant_id": "P1", "hours": 5}, {})


def test_what_this_code_cannot_read_is_refused_by_name() -> None:
    with pytest.raises(UndecodableEvent, match="unknown event type Teleported"):
        decode("Teleported", 1, {})
    with pytest.raises(UndecodableEvent, match="StudyHoursRecorded version 2 is newer than this code"):
        decode("StudyHoursRecorded", 2, {"participant_id": "P1", "hours": 5})
    with pytest.raises(UndecodableEvent, match="StudyHoursRecorded version 1 does not match its model"):
        decode("StudyHoursRecorded", 1, {"participant_id": "P1"})
