"""Realistic small events for the storage benchmarks: CandidateNominated with Chinese names.

Built from the deterministic sample population (names, schools, valid national
ID numbers), so every run appends the same bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from cohortflow.demo.sample import PREFECTURES, nominee
from cohortflow.domain.events import CandidateNominated, Metadata
from cohortflow.domain.national_id import PersonKeys
from cohortflow.store.records import NewEvent

SEED = 2023
KEYS = PersonKeys(hashlib.sha256(b"cohortflow-bench").digest())
"""A fixed secret of the benchmark's own, so every run appends the same bytes (nothing matches its people)."""
METADATA = Metadata(
    actor="bench",
    workflow_id="cohort-bench",
    programme_id="guopei-party-secretary",
    programme_version=1,
    step="nomination/import",
    correlation_id="bench",
).model_dump()


def nomination_data(index: int) -> dict[str, Any]:
    """The payload of the ``index``-th (1-based) nomination, prefectures taken in turn."""
    code, name = PREFECTURES[index % len(PREFECTURES)]
    person = nominee(index, code, name, SEED)
    return CandidateNominated(
        participant_id=person.participant_id,
        person_key=KEYS.of(person.national_id),
        name=person.name,
        national_id=person.national_id,
        gender="M" if person.gender == "M" else "F",
        prefecture_code=person.prefecture_code,
        school=person.school,
        role=person.role,
    ).payload()


def nomination_events(first: int, count: int) -> list[NewEvent]:
    """Events ``first`` .. ``first + count - 1`` as the store takes them."""
    return [
        NewEvent(CandidateNominated.TYPE, nomination_data(i), METADATA, CandidateNominated.SCHEMA_VERSION)
        for i in range(first, first + count)
    ]


def batches(total: int, size: int) -> Iterator[tuple[int, int]]:
    """(first index, count) of consecutive batches covering 1 .. ``total``."""
    first = 1
    while first <= total:
        count = min(size, total - first + 1)
        yield first, count
        first += count
