"""Tokens in a real PostgreSQL: issue, authenticate, revoke, list, and what is refused."""

from __future__ import annotations

import dataclasses

import psycopg
import pytest

from cohortflow.access.roles import Principal
from cohortflow.access.tokens import Conn, Pool, TokenRefused, check_secret, issue_token, list_tokens, revoke_token
from cohortflow.readmodels.queries import read_only
from cohortflow.store.eventstore import EventStore


async def authenticate(source: Pool | Conn, secret: str) -> Principal | None:
    """The principal ``check_secret`` finds, or None whatever the reason it gives."""
    found = await check_secret(source, secret)
    return found if isinstance(found, Principal) else None


BY = "cli:tester"


async def table_text(store: EventStore) -> str:
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT access_tokens::text FROM access_tokens")
        return "\n".join(row[0] for row in await cur.fetchall())


async def count(store: EventStore) -> int:
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM access_tokens")
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def test_issue_authenticate_revoke(store: EventStore) -> None:
    issued = await issue_token(store.pool, name=" Li Wei ", role="coordinator", prefecture="430100", issued_by=BY)
    assert issued.secret.startswith(f"cf_{issued.token_id}_")
    assert issued.name == "Li Wei"

    principal = await authenticate(store.pool, issued.secret)
    assert principal == Principal(token_id=issued.token_id, name="Li Wei", role="coordinator", prefecture="430100")

    revoked = await revoke_token(store.pool, issued.token_id, revoked_by="cli:boss")
    assert revoked.revoked_by == "cli:boss" and revoked.revoked_at is not None and not revoked.active
    assert await authenticate(store.pool, issued.secret) is None


async def test_revoking_one_token_leaves_the_others(store: EventStore) -> None:
    first = await issue_token(store.pool, name="a", role="auditor", prefecture=None, issued_by=BY)
    second = await issue_token(store.pool, name="b", role="auditor", prefecture=None, issued_by=BY)
    await revoke_token(store.pool, first.token_id, revoked_by=BY)
    assert await authenticate(store.pool, first.secret) is None
    assert await authenticate(store.pool, second.secret) is not None


async def test_revoking_twice_or_an_unknown_token_is_refused(store: EventStore) -> None:
    issued = await issue_token(store.pool, name="svc", role="reminder", prefecture=None, issued_by=BY)
    await revoke_token(store.pool, issued.token_id, revoked_by="cli:first")
    with pytest.raises(TokenRefused, match=f"token {issued.token_id} was already revoked by cli:first at "):
        await revoke_token(store.pool, issued.token_id, revoked_by="cli:second")
    with pytest.raises(TokenRefused, match="token nope does not exist"):
        await revoke_token(store.pool, "nope", revoked_by=BY)
    [info] = await list_tokens(store.pool)
    assert info.revoked_by == "cli:first"  # the refused second revocation changed nothing


@pytest.mark.parametrize(
    ("name", "role", "prefecture", "message"),
    [
        ("x", "root", None, "unknown role 'root'; the roles are admin, coordinator, auditor, reminder, school"),
        ("x", "coordinator", None, "a coordinator token needs the six-digit code of its prefecture"),
        ("x", "coordinator", "4301", "prefecture '4301' is not a six-digit prefecture code"),
        ("x", "coordinator", "43010a", "prefecture '43010a' is not a six-digit prefecture code"),
        ("x", "auditor", "430100", "only coordinators are bound to a prefecture; auditor tokens act on every one"),
        ("   ", "admin", None, "a token needs a name"),
        ("a\nb", "admin", None, "the name contains control characters"),
        ("x" * 101, "admin", None, "the name is 101 characters long; at most 100 are allowed"),
    ],
)
async def test_refusals_write_nothing(
    store: EventStore, name: str, role: str, prefecture: str | None, message: str
) -> None:
    with pytest.raises(TokenRefused) as refused:
        await issue_token(store.pool, name=name, role=role, prefecture=prefecture, issued_by=BY)
    assert str(refused.value).startswith(message)
    assert await count(store) == 0


async def test_the_secret_is_not_stored_in_clear(store: EventStore) -> None:
    issued = await issue_token(store.pool, name="admin one", role="admin", prefecture=None, issued_by=BY)
    stored = await table_text(store)
    assert issued.token_id in stored
    assert issued.secret not in stored
    random_part = issued.secret.removeprefix(f"cf_{issued.token_id}_")
    assert len(random_part) == 43  # the random part may itself hold "_", so it is cut by position
    assert random_part[:20] not in stored  # not even its random part


@pytest.mark.parametrize("garbage", ["", "garbage", "Bearer x", "cf_", "cf_0123456789abcdef_" + "A" * 43])
async def test_malformed_or_unknown_secrets_authenticate_no_one(store: EventStore, garbage: str) -> None:
    await issue_token(store.pool, name="admin one", role="admin", prefecture=None, issued_by=BY)
    assert await authenticate(store.pool, garbage) is None


async def test_a_secret_altered_in_one_character_is_unknown(store: EventStore) -> None:
    issued = await issue_token(store.pool, name="admin one", role="admin", prefecture=None, issued_by=BY)
    last = issued.secret[-1]
    assert await authenticate(store.pool, issued.secret[:-1] + ("A" if last != "A" else "B")) is None
    assert await authenticate(store.pool, issued.secret + "x") is None


async def test_list_shows_every_token_but_no_secret(store: EventStore) -> None:
    a = await issue_token(store.pool, name="a", role="coordinator", prefecture="430200", issued_by=BY)
    b = await issue_token(store.pool, name="b", role="reminder", prefecture=None, issued_by=BY)
    await revoke_token(store.pool, a.token_id, revoked_by=BY)
    listed = await list_tokens(store.pool)
    assert {t.token_id: (t.name, t.role, t.prefecture, t.active) for t in listed} == {
        a.token_id: ("a", "coordinator", "430200", False),
        b.token_id: ("b", "reminder", None, True),
    }
    assert all(t.issued_by == BY and t.issued_at is not None for t in listed)
    for t in listed:
        assert not any("secret" in f.name for f in dataclasses.fields(t))


def test_the_table_itself_refuses_a_coordinator_without_prefecture(database_url: str) -> None:
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO access_tokens (token_id, secret_sha256, name, role, issued_by)"
            " VALUES ('t', 'h', 'n', 'coordinator', 'x')"
        )


async def test_a_token_checked_on_a_held_connection_is_refused_once_revoked(store: EventStore) -> None:
    issued = await issue_token(store.pool, name="desk", role="auditor", prefecture=None, issued_by=BY)
    async with read_only(store.pool) as conn:
        principal = await authenticate(conn, issued.secret)
        assert principal == await authenticate(store.pool, issued.secret) is not None
        assert await authenticate(conn, "garbage") is None
        await revoke_token(store.pool, issued.token_id, revoked_by=BY)  # through another connection
        assert await authenticate(conn, issued.secret) is None  # no cache: the very next lookup sees it


async def test_a_school_and_a_district_reviewer_sign_in_bound_to_their_county_and_school(store: EventStore) -> None:
    school = await issue_token(
        store.pool, name="一中", role="school", prefecture=None, county="430104", school="长沙市第一中学", issued_by=BY
    )
    reviewer = await issue_token(
        store.pool, name="wang", role="reviewer", prefecture=None, county="430104", issued_by=BY
    )
    assert (school.prefecture, school.county, school.school) == ("430100", "430104", "长沙市第一中学")
    signed_in = await check_secret(store.pool, school.secret)
    assert isinstance(signed_in, Principal) and signed_in.school_scope == "长沙市第一中学"
    assert signed_in.county_scope == "430104" and signed_in.prefecture_scope == "430100"
    as_reviewer = await check_secret(store.pool, reviewer.secret)
    assert isinstance(as_reviewer, Principal) and (as_reviewer.county_scope, as_reviewer.school_scope) == (
        "430104",
        None,
    )
    listed = {t.role: (t.prefecture, t.county, t.school) for t in await list_tokens(store.pool)}
    assert listed["reviewer"] == ("430100", "430104", None)


@pytest.mark.parametrize(
    ("role", "prefecture", "county", "school", "message"),
    [
        ("school", None, "430104", None, "a school token needs the school's name"),
        ("school", None, None, "一中", "a school token needs the six-digit code of its county"),
        ("school", "430100", "430104", "一中", "a school token's prefecture is its county's: give the county only"),
        ("reviewer", None, "43010", None, "a reviewer token needs the six-digit code of its county"),
        ("reviewer", None, "430104", "一中", "a district reviewer's token is bound to a county, not to a school"),
        ("coordinator", "430100", "430104", None, "a coordinator token is bound to a prefecture only"),
        ("auditor", None, "430104", None, "only schools and district reviewers are bound to a county"),
    ],
)
async def test_a_unit_that_does_not_fit_the_role_is_refused(
    store: EventStore, role: str, prefecture: str | None, county: str | None, school: str | None, message: str
) -> None:
    with pytest.raises(TokenRefused, match=message):
        await issue_token(
            store.pool, name="x", role=role, prefecture=prefecture, county=county, school=school, issued_by=BY
        )
    assert await count(store) == 0
