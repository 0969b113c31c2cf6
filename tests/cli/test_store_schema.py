"""Store commands check the schema version against the code's head instead of migrating (real PostgreSQL).

A current store is used; a store behind the code, or never migrated, is refused
with the command that migrates it and nothing is changed; `cohortflow migrate`
brings it to the head; a backup may still be taken before migrating.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
from typer.testing import CliRunner, Result

from cohortflow.cli.main import app
from cohortflow.runtime.postgres import EmbeddedPostgres
from cohortflow.store.migrate import head_revision, upgrade

BEHIND = "0006"


def invoke(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"DATABASE_URL": database_url})


def new_database(postgres: EmbeddedPostgres) -> str:
    return postgres.ensure_database(f"s_{uuid.uuid4().hex[:12]}")


def revision_and_tables(database_url: str) -> tuple[str | None, list[str]]:
    with psycopg.connect(database_url) as conn:
        tables = [
            str(name)
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            ).fetchall()
        ]
        if "alembic_version" not in tables:
            return None, tables
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return (None if row is None else str(row[0])), tables


def tokens(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM access_tokens").fetchone()
    assert row is not None
    return int(row[0])


def test_a_current_store_is_used_without_migrating(database_url: str) -> None:
    before = revision_and_tables(database_url)
    issued = invoke(database_url, "token", "issue", "--name", "li", "--role", "admin")
    assert issued.exit_code == 0, issued.output
    assert tokens(database_url) == 1
    assert revision_and_tables(database_url) == before == (head_revision(), before[1])


def test_a_store_behind_the_code_is_refused_with_the_migrate_command_and_left_as_it_was(
    postgres: EmbeddedPostgres,
) -> None:
    url = new_database(postgres)
    upgrade(url, BEHIND)
    before = revision_and_tables(url)
    for args in (["token", "issue", "--name", "li", "--role", "admin"], ["reminder", "failures"]):
        refused = invoke(url, *args)
        assert refused.exit_code == 2, refused.output
        message = " ".join(refused.stderr.split())
        assert f"the store's schema is at revision {BEHIND}, this cohortflow needs {head_revision()}" in message
        assert "run `cohortflow migrate`" in message
        assert "nothing was changed" in message
    assert revision_and_tables(url) == before
    assert tokens(url) == 0

    migrated = invoke(url, "migrate")
    assert migrated.exit_code == 0, migrated.output
    assert f"the store is at revision {head_revision()}" in migrated.stdout
    assert revision_and_tables(url)[0] == head_revision()
    assert invoke(url, "token", "issue", "--name", "li", "--role", "admin").exit_code == 0
    assert tokens(url) == 1


def test_a_store_never_migrated_is_refused_and_stays_empty(postgres: EmbeddedPostgres) -> None:
    url = new_database(postgres)
    refused = invoke(url, "token", "list")
    assert refused.exit_code == 2
    assert "the store has no schema yet: run `cohortflow migrate`" in " ".join(refused.stderr.split())
    assert revision_and_tables(url) == (None, [])
    backup = invoke(url, "backup", "unused.dump")
    assert backup.exit_code == 2
    assert "no schema yet" in backup.stderr
    assert revision_and_tables(url) == (None, [])


def test_a_store_ahead_of_the_code_is_refused(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    refused = invoke(database_url, "token", "list")
    assert refused.exit_code == 2
    assert "revision 9999, which this version of cohortflow does not know" in " ".join(refused.stderr.split())


def test_a_store_behind_the_code_may_be_backed_up_before_migrating(postgres: EmbeddedPostgres, tmp_path: Path) -> None:
    url = new_database(postgres)
    upgrade(url, BEHIND)
    out = tmp_path / "before-migrating.dump"
    backed_up = invoke(url, "backup", str(out))
    assert backed_up.exit_code == 0, backed_up.output
    assert out.stat().st_size > 0
    assert revision_and_tables(url)[0] == BEHIND
