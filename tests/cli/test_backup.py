"""`cohortflow backup` and `restore` against real PostgreSQL: a restored store verifies against an earlier digest.

Also: bad input is refused with exit code 2 and changes nothing, and an
unusable state directory ends every command that needs it with one line.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner, Result

from cohortflow.cli.main import app
from cohortflow.runtime.backup import find_tool
from cohortflow.runtime.postgres import EmbeddedPostgres
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import NewEvent
from tests.conftest import fresh_database


def invoke(database_url: str | None, *args: str, state_dir: Path | None = None) -> Result:
    env = {"DATABASE_URL": database_url, "COHORTFLOW_STATE_DIR": str(state_dir) if state_dir else None}
    return CliRunner().invoke(app, list(args), env=env)


def record(database_url: str, cohort: str, count: int) -> None:
    """``count`` events in one cohort, appended as the activities do (idempotency keys, hash chain)."""

    async def append() -> None:
        store = await EventStore.connect(database_url, max_size=1)
        try:
            for i in range(count):
                data = {"participant_id": f"P{i}", "hours": 100 + i, "名字": "李娜"}
                event = NewEvent("OnlineStudyRecorded", data)
                await store.append(f"cohort-{cohort}", [event], idempotency_key=f"{cohort}-{i}")
        finally:
            await store.close()

    asyncio.run(append())


def empty_database(postgres: EmbeddedPostgres) -> str:
    return postgres.ensure_database(f"r_{uuid.uuid4().hex[:12]}")


def history(database_url: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The store's identity (with its person-key secret) and every event's position, stream, version and hashes."""
    with psycopg.connect(database_url) as conn:
        identity = conn.execute(
            "SELECT store_id::text, created_at::text, person_key_secret FROM store_identity"
        ).fetchall()
        events = conn.execute(
            "SELECT position, stream_id, stream_version, data, prev_hash, hash FROM events ORDER BY position"
        ).fetchall()
    return identity, events


def objects(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def databases(postgres: EmbeddedPostgres) -> set[str]:
    with psycopg.connect(postgres.url("postgres")) as conn:
        return {str(name) for (name,) in conn.execute("SELECT datname FROM pg_database").fetchall()}


@pytest.fixture
def backed_up(postgres: EmbeddedPostgres, tmp_path: Path) -> tuple[str, Path, Path]:
    """A store with events, the digest an auditor exported, then a backup: (database URL, digest, dump)."""
    source = fresh_database(postgres)
    record(source, "2024-hn", 12)
    digest, dump = tmp_path / "before.json", tmp_path / "store.dump"
    assert invoke(source, "audit", "digest", "--out", str(digest)).exit_code == 0
    record(source, "2024-hn-b", 3)  # the service keeps working between the digest and the backup
    result = invoke(source, "backup", str(dump))
    assert result.exit_code == 0, result.output
    assert "head position 16" in result.stdout  # 12 + the recorded digest query + 3
    assert dump.read_bytes()[:5] == b"PGDMP"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []
    return source, digest, dump


def test_a_restored_store_verifies_against_the_digest_exported_before(
    postgres: EmbeddedPostgres, backed_up: tuple[str, Path, Path]
) -> None:
    source, digest, dump = backed_up
    target = empty_database(postgres)

    result = invoke(target, "restore", str(dump), "--digest", str(digest))

    assert result.exit_code == 0, result.output
    assert "16 events, head position 16, chain intact; it verifies against the digest" in result.stdout
    assert history(target) == history(source)  # the identity row and every hash, exactly
    (_, _, secret), *_ = history(target)[0]
    assert isinstance(secret, bytes) and len(secret) == 32  # people keep their keys in the restored store
    verified = invoke(target, "audit", "verify", "--digest", str(digest), "--json")
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)["ok"] is True


def test_a_digest_of_another_store_or_a_rewritten_history_is_refused(
    postgres: EmbeddedPostgres, backed_up: tuple[str, Path, Path], tmp_path: Path
) -> None:
    _, digest, dump = backed_up
    other = fresh_database(postgres)
    foreign = tmp_path / "other.json"
    assert invoke(other, "audit", "digest", "--out", str(foreign)).exit_code == 0
    target = empty_database(postgres)

    result = invoke(target, "restore", str(dump), "--digest", str(foreign))
    assert result.exit_code == 2 and "the digest was exported from store" in result.stderr
    assert objects(target) == 0  # refused before anything was loaded

    rewritten = tmp_path / "rewritten.json"
    rewritten.write_text(json.dumps(json.loads(digest.read_text()) | {"hash": "0" * 64}))
    result = invoke(target, "restore", str(dump), "--digest", str(rewritten))
    assert result.exit_code == 1
    assert "rewritten" in result.stderr and "NOT intact" in result.stderr
    assert invoke(target, "audit", "verify", "--digest", str(rewritten)).exit_code == 1
    assert invoke(target, "audit", "verify", "--digest", str(digest)).exit_code == 0


def test_replace_swaps_in_the_backup_only_when_it_verifies_and_keeps_the_store_it_replaced(
    postgres: EmbeddedPostgres, backed_up: tuple[str, Path, Path], tmp_path: Path
) -> None:
    source, digest, dump = backed_up
    at_backup = history(source)
    record(source, "2024-hn-late", 4)  # written after the backup: the restore takes the store back before them
    later = history(source)

    refused = invoke(source, "restore", str(dump))
    assert refused.exit_code == 2, refused.output
    assert "is not empty (store" in refused.stderr and "--replace" in refused.stderr
    assert history(source) == later

    rewritten = tmp_path / "rewritten.json"
    rewritten.write_text(json.dumps(json.loads(digest.read_text()) | {"hash": "f" * 64}))
    before = databases(postgres)
    broken = invoke(source, "restore", str(dump), "--replace", "--digest", str(rewritten))
    assert broken.exit_code == 1 and "nothing was replaced" in broken.stderr
    assert history(source) == later and databases(postgres) == before  # the scratch database is gone too

    result = invoke(source, "restore", str(dump), "--replace", "--digest", str(digest))
    assert result.exit_code == 0, result.output
    assert history(source) == at_backup
    kept = re.search(r"kept as database (\S+);", result.stdout)
    assert kept is not None
    assert history(postgres.url(kept.group(1))) == later


def test_bad_input_is_refused_with_exit_code_2_and_changes_nothing(
    postgres: EmbeddedPostgres, backed_up: tuple[str, Path, Path], tmp_path: Path
) -> None:
    source, _, dump = backed_up
    target = empty_database(postgres)
    text = tmp_path / "notes.txt"
    text.write_text("not a dump\n")
    truncated = tmp_path / "truncated.dump"
    truncated.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    not_a_store = tmp_path / "other.dump"
    pg_dump = find_tool("pg_dump", 18)
    subprocess.run([str(pg_dump), "-Fc", "-f", str(not_a_store), "--dbname", empty_database(postgres)], check=True)

    cases = [
        (("restore", str(tmp_path / "missing.dump")), "cannot read"),
        (("restore", str(text)), "is not a PostgreSQL custom-format dump"),
        (("restore", str(not_a_store)), "holds no cohortflow store"),
        (("restore", str(dump), "--digest", str(text)), "is not a digest"),
        (("restore", str(dump), "--digest", str(tmp_path / "missing.json")), "cannot read the digest"),
    ]
    for args, message in cases:
        result = invoke(target, *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
        assert objects(target) == 0

    # A dump cut short fails part-way through the load: one transaction, so the target stays empty.
    result = invoke(target, "restore", str(truncated))
    assert result.exit_code in (1, 2) and "pg_restore" in result.stderr, result.output
    assert objects(target) == 0

    regular = tmp_path / "regular"
    regular.write_text("")
    for out, message in [
        (dump, "already exists"),
        (tmp_path, "is a directory"),
        (tmp_path / "no" / "such" / "dir.dump", "cannot write in"),
        (regular / "x.dump", "cannot write in"),
    ]:
        result = invoke(source, "backup", str(out))
        assert result.exit_code == 2, (out, result.output)
        assert message in result.stderr, (out, result.stderr)
    assert invoke(empty_database(postgres), "backup", str(tmp_path / "empty.dump")).exit_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["before.json", "store.dump", "notes.txt", "truncated.dump", "other.dump", "regular"]
    )


@pytest.mark.parametrize("under_a_file", [True, False], ids=["path-through-a-file", "state-dir-is-a-file"])
def test_an_unusable_state_directory_ends_each_command_with_one_line(tmp_path: Path, under_a_file: bool) -> None:
    # Tests run as root, which writes into any chmod 555 directory; a regular file in the way fails for root too.
    regular = tmp_path / "state-file"
    regular.write_text("")
    state = regular / "state" if under_a_file else regular
    dump = tmp_path / "store.dump"
    dump.write_bytes(b"PGDMP")  # passes the first look, so the restore gets as far as the store
    for args in [("audit", "digest"), ("backup", str(tmp_path / "b.dump")), ("restore", str(dump)), ("up",)]:
        result = invoke(None, *args, state_dir=state)
        assert result.exit_code == 2, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and f"cannot use the state directory {state}" in lines[0], (args, result.stderr)
        assert "COHORTFLOW_STATE_DIR" in lines[0]
    result = invoke(None, "demo", "--keep", str(state))
    assert result.exit_code == 2 and "Set --keep to a directory" in result.stderr
