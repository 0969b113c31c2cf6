"""Console accounts against the real database and the CLI that creates them: Argon2id hashes only, the same
unit checks as tokens, a weak or reused name refused with nothing written, sessions that end."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from typer.testing import CliRunner

from cohortflow.access.accounts import (
    AccountRefused,
    check_password,
    create_account,
    end_session,
    session_of,
    start_session,
)
from cohortflow.access.tokens import TokenRefused
from cohortflow.cli.main import app
from cohortflow.store.eventstore import EventStore

PASSWORD = "correct horse battery"


async def test_an_account_signs_in_with_its_password_only_and_its_session_ends(store: EventStore) -> None:
    created = await create_account(
        store.pool, name="王芳", password=PASSWORD, role="coordinator", prefecture="430100", created_by="tests"
    )
    assert (created.actor, created.prefecture_scope, created.token_id) == ("coordinator:王芳", "430100", "account:王芳")
    async with store.pool.connection() as conn:
        [stored] = await (await conn.execute("SELECT password_hash FROM accounts")).fetchone() or [""]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert await check_password(store.pool, "王芳", PASSWORD) == created
    assert await check_password(store.pool, "王芳", PASSWORD + "!") is None
    assert await check_password(store.pool, "nobody", PASSWORD) is None

    value, session = await start_session(store.pool, created, timedelta(minutes=5))
    assert await session_of(store.pool, value) == session and session.principal == created
    assert await session_of(store.pool, value + "x") is None
    await end_session(store.pool, value)
    assert await session_of(store.pool, value) is None

    async with store.pool.connection() as conn:
        await conn.execute("UPDATE accounts SET disabled_at = now(), disabled_by = 'tests'")
    assert await check_password(store.pool, "王芳", PASSWORD) is None  # a disabled account signs in no more


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"password": "short"}, "a password needs at least 10 characters"),
        ({"role": "coordinator"}, "a coordinator account needs the six-digit code of its prefecture"),
        ({"role": "school", "county": "430104"}, "a school account needs the school's name"),
        ({"name": " "}, "an account needs a name"),
        ({"name": "admin"}, "an account named 'admin' exists already"),
    ],
)
async def test_a_bad_account_is_refused_and_nothing_is_written(
    store: EventStore, changes: dict[str, str], why: str
) -> None:
    await create_account(store.pool, name="admin", password=PASSWORD, role="admin", created_by="tests")
    with pytest.raises(TokenRefused, match=why):
        await create_account(
            store.pool, **({"name": "li", "password": PASSWORD, "role": "admin", "created_by": "tests"} | changes)
        )
    async with store.pool.connection() as conn:
        assert await (await conn.execute("SELECT count(*) FROM accounts")).fetchone() == (1,)


def test_the_cli_creates_an_account_reading_the_password_from_standard_input(database_url: str) -> None:
    runner = CliRunner(env={"DATABASE_URL": database_url, "COLUMNS": "200"})
    school = ["--role", "school", "--county", "430104", "--school", "第一中学", "--password-stdin"]
    created = runner.invoke(app, ["account", "create", "li", *school], input=PASSWORD + "\n")
    assert created.exit_code == 0, created.output
    assert "created account 'li' (school)" in created.stderr
    weak = runner.invoke(app, ["account", "create", "zhao", "--role", "admin", "--password-stdin"], input="short\n")
    assert weak.exit_code == 2 and "a password needs at least 10 characters" in weak.output
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT name, role, county, school FROM accounts").fetchall() == [
            ("li", "school", "430104", "第一中学")
        ]
    assert issubclass(AccountRefused, TokenRefused)
