"""Finding an issued certificate in the history: by the code printed on it, or by its cohort and participant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cohortflow.domain.certificates import certificate_stream, issue_key
from cohortflow.domain.cohort_stream import cohort_stream
from cohortflow.domain.decoding import decode
from cohortflow.domain.events import CertificateIssued, ParticipantCompleted
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import StoredEvent


@dataclass(frozen=True)
class FoundCertificate:
    certificate: CertificateIssued
    position: int
    """Where the certificate sits in the hash chain."""
    recorded_at: datetime
    hash: str


def _found(stored: StoredEvent) -> FoundCertificate:
    event = decode(stored.type, stored.schema_version, stored.data)
    assert isinstance(event, CertificateIssued), f"{stored.stream_id} holds a {stored.type}"
    return FoundCertificate(event, stored.position, stored.recorded_at, stored.hash)


async def certificate_by_code(store: EventStore, code: str) -> FoundCertificate | None:
    """The certificate recorded under ``code`` (as :func:`parse_code` gives it), or None: one indexed read."""
    async for stored in store.read_stream(certificate_stream(code), types=[CertificateIssued.TYPE]):
        return _found(stored)
    return None


async def participant_certificate(store: EventStore, cohort_id: str, participant_id: str) -> FoundCertificate | None:
    """The participant's completion certificate of the cohort, or None if none was issued."""
    recorded = await store.recorded(issue_key(cohort_id, participant_id))
    return _found(recorded[0]) if recorded else None


async def cohort_certificates(store: EventStore, cohort_id: str) -> list[StoredEvent]:
    """The completion certificates issued for the cohort, in position order, as stored."""
    completed = [
        e.data["participant_id"]
        async for e in store.read_stream(cohort_stream(cohort_id), types=[ParticipantCompleted.TYPE])
    ]
    return await store.read_keyed([f"{issue_key(cohort_id, pid)}#0" for pid in completed])
