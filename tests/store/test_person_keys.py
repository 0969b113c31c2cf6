"""Each store keys people with a secret of its own; a store that recorded unkeyed keys before keeps that scheme."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from structlog.testing import capture_logs

from cohortflow.demo.sample import nominees, sample_programme
from cohortflow.domain.events import CandidateNominated
from cohortflow.domain.national_id import person_key
from cohortflow.runtime.postgres import EmbeddedPostgres
from cohortflow.store.eventstore import EventStore
from cohortflow.store.migrate import upgrade
from cohortflow.store.records import NewEvent
from tests.earlier_writer import append_as_before

BEFORE_SECRETS = "0006"
PERSON = nominees(sample_programme(20, 5), seed=5)[0]


def empty_database(postgres: EmbeddedPostgres) -> str:
    return postgres.ensure_database(f"k_{uuid.uuid4().hex[:12]}")


def secret_of(url: str) -> bytes | None:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT person_key_secret FROM store_identity").fetchone()
    assert row is not None
    return None if row[0] is None else bytes(row[0])


async def record(url: str, data: dict[str, object], kind: str) -> None:
    """An event recorded by a version before person-key secrets (and chain format 2)."""
    await append_as_before(url, "cohort-old", [NewEvent(kind, data, {"actor": "test"})], str(uuid.uuid4()))


def nomination(key: str) -> dict[str, object]:
    return CandidateNominated(
        participant_id=PERSON.participant_id,
        person_key=key,
        name=PERSON.name,
        national_id=PERSON.national_id,
        gender="M" if PERSON.gender == "M" else "F",
        prefecture_code=PERSON.prefecture_code,
        school=PERSON.school,
        role=PERSON.role,
    ).payload()


async def test_a_new_store_gets_a_secret_of_its_own(postgres: EmbeddedPostgres, store: EventStore) -> None:
    first, second = empty_database(postgres), empty_database(postgres)
    with capture_logs() as logs:
        upgrade(first)
        upgrade(second)
    assert logs == []
    secrets = [secret_of(first), secret_of(second)]
    assert all(s is not None and len(s) == 32 for s in secrets)
    assert secrets[0] != secrets[1]

    keys = await store.person_keys()  # a test store, cloned from a template with a new identity row
    assert not keys.legacy and keys.secret not in secrets
    assert await store.person_keys() is keys  # read once
    assert keys.of(PERSON.national_id) == person_key(PERSON.national_id, keys.secret)
    assert keys.of(PERSON.national_id) != person_key(PERSON.national_id, None)


def test_the_secret_is_guarded_like_the_rest_of_the_identity(database_url: str) -> None:
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE store_identity SET person_key_secret = NULL")


async def test_a_store_that_already_recorded_unkeyed_person_keys_keeps_that_scheme(
    postgres: EmbeddedPostgres,
) -> None:
    url = empty_database(postgres)
    upgrade(url, BEFORE_SECRETS)
    recorded = person_key(PERSON.national_id, None)
    await record(url, nomination(recorded), CandidateNominated.TYPE)

    with capture_logs() as logs:
        upgrade(url)

    assert secret_of(url) is None
    assert [entry["log_level"] for entry in logs] == ["warning"]
    assert "keeps that scheme" in logs[0]["event"]
    store = await EventStore.connect(url, max_size=1)
    try:
        keys = await store.person_keys()
        assert keys.legacy
        assert keys.of(PERSON.national_id) == recorded  # the same person still matches across cohorts
    finally:
        await store.close()


async def test_a_store_with_events_but_no_person_keys_is_keyed(postgres: EmbeddedPostgres) -> None:
    url = empty_database(postgres)
    upgrade(url, BEFORE_SECRETS)
    await record(url, {"participant_id": "P1", "hours": 120}, "OnlineStudyRecorded")

    upgrade(url)

    secret = secret_of(url)
    assert secret is not None and len(secret) == 32
