"""Chain format 2 hashes the JSON text as stored; a store written in format 1 (JSONB) still verifies, by its rules."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

import cohortflow.audit.standalone_verifier as standalone
from cohortflow.audit.bundle import restore_bundle, write_bundle
from cohortflow.audit.verify import verify_cohort, verify_store
from cohortflow.domain.canonical import canonical_json
from cohortflow.runtime.postgres import EmbeddedPostgres
from cohortflow.store.eventstore import EventStore
from cohortflow.store.migrate import upgrade
from cohortflow.store.records import NewEvent
from tests.earlier_writer import append_as_before

BEFORE_FORMAT_2 = "0016"
NOW = datetime(2030, 1, 1, tzinfo=UTC)


async def append(url: str, cohort: str, count: int, tag: str) -> None:
    """``count`` events; tagged ``before``, as a version before chain format 2 wrote them, else by the store."""
    store = await EventStore.connect(url, max_size=1)
    try:
        for i in range(count):
            data = {"participant_id": f"P{i}", "hours": 100.0 + i, "名字": "李娜", "z": [1, {"b": 2, "a": 1.5}]}
            stream, key = f"cohort-{cohort}", f"{tag}/{cohort}/{i}"
            events = [NewEvent("OnlineStudyRecorded", data, {"actor": "test", "step": tag})]
            if tag == "before":
                await append_as_before(url, stream, events, key)
            else:
                await store.append(stream, events, idempotency_key=key)
    finally:
        await store.close()


def stored(url: str) -> list[tuple[object, ...]]:
    """Every event's position, links and JSON values (the text each column's type gives back, decoded)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT position, prev_hash, hash, data::text, metadata::text FROM events ORDER BY position"
        ).fetchall()
    return [(*row[:3], json.loads(row[3]), json.loads(row[4])) for row in rows]


@pytest.fixture
def format_1_url(postgres: EmbeddedPostgres) -> str:
    """A store whose first six events were written before chain format 2 (data and metadata as JSONB)."""
    url = postgres.ensure_database(f"f_{uuid.uuid4().hex[:12]}")
    upgrade(url, BEFORE_FORMAT_2)
    return url


async def test_a_store_written_in_format_1_is_converted_without_changing_history(format_1_url: str) -> None:
    url = format_1_url
    await append(url, "old", 6, "before")
    before = stored(url)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT data::text FROM events WHERE position = 1").fetchone()
    assert row is not None and row[0] != canonical_json(json.loads(row[0]))  # JSONB kept neither order nor spacing

    upgrade(url)

    assert stored(url) == before  # no event, link or hash changed; each JSON value is the one it was
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT chain_format, chain_format_since FROM store_identity").fetchone() == (2, 7)


async def test_a_format_1_store_verifies_by_the_old_rules_and_says_so(format_1_url: str) -> None:
    url = format_1_url
    await append(url, "old", 6, "before")
    upgrade(url)
    await append(url, "old", 4, "after")

    store = await EventStore.connect(url, max_size=2)
    try:
        report = await verify_store(store)
        assert report.ok and report.checked == 10
        assert (report.chain_format_since, report.re_encoded) == (7, 6)
        assert "6 events written before position 7 were checked by chain format 1" in report.rules
        cohort = await verify_cohort(store, "old")
        assert cohort.ok and cohort.re_encoded == 6
        up_to_old = await verify_store(store, until=6)
        assert up_to_old.ok and up_to_old.re_encoded == 6
    finally:
        await store.close()
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT position, data::text FROM events ORDER BY position").fetchall()
    assert all((text == canonical_json(json.loads(text))) == (position >= 7) for position, text in rows)


async def test_a_changed_format_1_event_is_still_caught(format_1_url: str) -> None:
    url = format_1_url
    await append(url, "old", 6, "before")
    upgrade(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE events SET data = replace(data::text, '李娜', '李妍')::json WHERE position = 3")
    store = await EventStore.connect(url, max_size=2)
    try:
        report = await verify_store(store)
    finally:
        await store.close()
    assert [(b.position, b.kind) for b in report.breaks] == [(3, "changed")]


async def test_stored_bytes_are_what_is_hashed_so_even_an_equal_value_spelt_otherwise_is_caught(
    store: EventStore, superuser: psycopg.Connection
) -> None:
    """The stored text is authoritative: respelling it (as JSONB would, keys reordered and spaced) is a change."""
    await store.append("cohort-a", [NewEvent("X", {"b": 1, "a": "李娜"}), NewEvent("X", {"c": 2})], idempotency_key="k")
    report = await verify_store(store)
    assert report.ok and (report.chain_format_since, report.re_encoded) == (1, 0)
    assert "every event was checked by chain format 2" in report.rules

    superuser.execute("UPDATE events SET data = data::jsonb::json WHERE position = 1")
    with psycopg.connect(superuser.info.dsn) as conn:
        row = conn.execute("SELECT data->>'a', data::text FROM events WHERE position = 1").fetchone()
    assert row is not None and row[0] == "李娜" and row[1] != '{"a":"李娜","b":1}'
    assert [(b.position, b.kind) for b in (await verify_store(store)).breaks] == [(1, "changed")]
    assert [(b.position, b.kind) for b in (await verify_cohort(store, "a")).breaks] == [(1, "changed")]


def test_the_format_line_is_guarded_like_the_rest_of_the_identity(database_url: str) -> None:
    """Moving the line would have old events checked by rules they were not written under."""
    for change in ("UPDATE store_identity SET chain_format_since = 1", "DELETE FROM store_identity"):
        with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(change)


async def test_bundles_from_before_and_after_the_conversion_check_offline(format_1_url: str, tmp_path: Path) -> None:
    url = format_1_url
    await append(url, "old", 6, "before")
    store = await EventStore.connect(url, max_size=2)
    try:
        await write_bundle(store, tmp_path / "before.jsonl", NOW)
    finally:
        await store.close()
    upgrade(url)
    await append(url, "old", 4, "after")
    store = await EventStore.connect(url, max_size=2)
    try:
        await write_bundle(store, tmp_path / "after.jsonl", NOW)
    finally:
        await store.close()

    before = (tmp_path / "before.jsonl").read_text(encoding="utf-8").splitlines()
    after = (tmp_path / "after.jsonl").read_text(encoding="utf-8").splitlines()
    assert after[1:7] == before[1:7]  # the old events' lines are the same
    for lines, events in ((before, 6), (after, 10)):
        report = standalone.verify_bundle(lines)
        assert report.ok and report.events == events, report.problems


async def test_a_restored_bundle_is_stored_in_format_2(format_1_url: str, store: EventStore, tmp_path: Path) -> None:
    """A bundle of a format 1 store, restored into a new store, is stored as the bytes hashed and verifies so."""
    await append(format_1_url, "old", 6, "before")
    old = await EventStore.connect(format_1_url, max_size=2)
    try:
        await write_bundle(old, tmp_path / "b.jsonl", NOW)
    finally:
        await old.close()
    assert await restore_bundle(store, tmp_path / "b.jsonl") == 6
    report = await verify_store(store)
    assert report.ok and report.checked == 6 and report.re_encoded == 0
