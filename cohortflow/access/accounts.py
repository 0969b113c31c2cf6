"""Console accounts: a name and a password (kept only as an Argon2id hash), a role and a unit as a token has,
and the sessions a signed-in browser holds.

argon2-cffi hashes and checks passwords (its defaults are Argon2id with RFC 9106's low-memory parameters) and says
when a stored hash was made with weaker parameters than today's, so it is rehashed at the next sign-in. A session
is a random cookie value whose SHA-256 is stored with the account, a form token (CSRF) and an expiry: as with
tokens, a plain hash suffices for 256 random bits, and signing out or disabling the account ends it at once. A
session records which way it signed in: the password, or the province's OpenID Connect provider vouching for the
account's name (the account, with its role and unit, is always one an administrator created).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as upsert

from cohortflow.access.roles import Principal, Role
from cohortflow.access.tokens import ACCOUNT, Pool, TokenRefused, Unit, checked_holder
from cohortflow.domain.phrases import phrase
from cohortflow.store import tables as t
from cohortflow.store.sql import Statement, execute

MIN_PASSWORD = 10
MAX_PASSWORD = 256
ACCOUNT_PREFIX = "account:"
"""A signed-in account's principal id (a token's is its token id): journals and logs tell the two apart."""
_HASHER = PasswordHasher()
_UNUSED_HASH = _HASHER.hash(secrets.token_urlsafe(16))
"""Checked against when no account has the name, so that an unknown name costs as long as a wrong password."""


SignedInBy = Literal["password", "oidc"]


class AccountRefused(TokenRefused):
    """An account operation that was refused; nothing was written."""


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf: str
    """The form token every form of this session carries."""
    signed_in_by: SignedInBy = "password"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return phrase("a password needs at least {count} characters", count=MIN_PASSWORD)
    if len(password) > MAX_PASSWORD:
        return phrase("a password has at most {count} characters", count=MAX_PASSWORD)
    return None


async def create_account(
    pool: Pool,
    *,
    name: str,
    password: str,
    role: str,
    created_by: str,
    prefecture: str | None = None,
    county: str | None = None,
    school: str | None = None,
) -> Principal:
    """Store a new account; refused (nothing written) for a taken name, a weak password or a unit the role does
    not take."""
    name, checked_role, unit = checked_holder(name, role, Unit(prefecture, county, school), ACCOUNT)
    if problem := _password_problem(password):
        raise AccountRefused(problem)
    if not created_by:
        raise AccountRefused(phrase("an account needs to say who created it"))
    async with pool.connection() as conn:
        holder = (name, _HASHER.hash(password), checked_role, unit.prefecture, unit.county, unit.school, created_by)
        cur = await execute(conn, _CREATE, **dict(zip(_HOLDER, holder, strict=True)))
        if cur.rowcount == 0:
            raise AccountRefused(phrase("an account named {name} exists already", name=repr(name)))
    return _principal(name, checked_role, unit)


_A, _S = t.accounts, t.console_sessions
_HOLDER = ("name", "password_hash", "role", "prefecture", "county", "school", "created_by")
_CREATE = Statement(
    upsert(_A).values({n: bindparam(n) for n in _HOLDER}).on_conflict_do_nothing(index_elements=[_A.c.name])
)
_named = _A.c.name == bindparam("name")
_UNIT = (_A.c.role, _A.c.prefecture, _A.c.county, _A.c.school)
_PASSWORD = Statement(select(_A.c.password_hash, *_UNIT, _A.c.disabled_at.is_not(None)).where(_named))
_REHASH = Statement(update(_A).where(_named).values(password_hash=bindparam("hash")))
_ENABLED = Statement(select(*_UNIT, _A.c.disabled_at.is_not(None)).where(_named))
_START = Statement(
    _S.insert().values(
        session_sha256=bindparam("digest"),
        account=bindparam("account"),
        csrf=bindparam("csrf"),
        expires_at=func.now() + bindparam("lifetime"),
        signed_in_by=bindparam("by"),
    )
)
_this_session = _S.c.session_sha256 == bindparam("digest")
_LIVE = Statement(
    select(_A.c.name, *_UNIT, _S.c.csrf, _S.c.signed_in_by)
    .join_from(_S, _A, _A.c.name == _S.c.account)
    .where(_this_session, _S.c.expires_at > func.now(), _A.c.disabled_at.is_(None))
)
_END = Statement(delete(_S).where(_this_session))
_END_ALL = Statement(delete(_S).where(_S.c.account == bindparam("name")))
_INFO = ("name", "role", "prefecture", "county", "school", "created_at", "created_by", "disabled_at", "disabled_by")
_LIST = Statement(select(*(_A.c[n] for n in _INFO)).order_by(_A.c.name))
_DISABLE = Statement(
    update(_A).where(_named, _A.c.disabled_at.is_(None)).values(disabled_at=func.now(), disabled_by=bindparam("by"))
)


def _principal(name: str, role: Role, unit: Unit) -> Principal:
    return Principal(f"{ACCOUNT_PREFIX}{name}", name, role, unit.prefecture, unit.county, unit.school)


async def check_password(pool: Pool, name: str, password: str) -> Principal | None:
    """The account's principal if the password is its own and the account is not disabled; None otherwise (the
    caller is not told which)."""
    async with pool.connection() as conn:
        cur = await execute(conn, _PASSWORD, name=name)
        row = await cur.fetchone()
        stored = _UNUSED_HASH if row is None else row[0]
        try:
            _HASHER.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or row[5]:
            return None
        if _HASHER.check_needs_rehash(stored):
            await execute(conn, _REHASH, hash=_HASHER.hash(password), name=name)
    return _principal(name, row[1], Unit(row[2], row[3], row[4]))


async def enabled_account(pool: Pool, name: str) -> tuple[Principal | None, str]:
    """The principal of the enabled account named ``name`` (signing in through the identity provider, which has
    checked who it is), or None and why not: ``"no account"`` or ``"disabled"``."""
    async with pool.connection() as conn:
        cur = await execute(conn, _ENABLED, name=name)
        row = await cur.fetchone()
    if row is None:
        return None, "no account"
    if row[4]:
        return None, "disabled"
    return _principal(name, row[0], Unit(row[1], row[2], row[3])), "enabled"


async def start_session(
    pool: Pool, principal: Principal, lifetime: timedelta, signed_in_by: SignedInBy = "password"
) -> tuple[str, Session]:
    """A new session for a signed-in account: the cookie's value (shown once) and the session."""
    value, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    async with pool.connection() as conn:
        session = {"digest": _digest(value), "account": principal.name, "csrf": csrf, "by": signed_in_by}
        await execute(conn, _START, lifetime=lifetime, **session)
    return value, Session(principal, csrf, signed_in_by)


async def session_of(pool: Pool, value: str) -> Session | None:
    """The live session a cookie names; None for an unknown, expired or ended one, or a disabled account."""
    async with pool.connection() as conn:
        cur = await execute(conn, _LIVE, digest=_digest(value))
        row = await cur.fetchone()
    if row is None:
        return None
    name, role, prefecture, county, school, csrf, signed_in_by = row
    return Session(_principal(name, role, Unit(prefecture, county, school)), csrf, signed_in_by)


async def end_session(pool: Pool, value: str) -> None:
    async with pool.connection() as conn:
        await execute(conn, _END, digest=_digest(value))


@dataclass(frozen=True)
class AccountInfo:
    name: str
    role: Role
    prefecture: str | None
    county: str | None
    school: str | None
    created_at: datetime
    created_by: str
    disabled_at: datetime | None
    disabled_by: str | None


async def list_accounts(pool: Pool) -> list[AccountInfo]:
    """Every account, disabled ones included, by name (never a password's hash)."""
    async with pool.connection() as conn:
        cur = await execute(conn, _LIST)
        return [AccountInfo(*row) for row in await cur.fetchall()]


async def disable_account(pool: Pool, name: str, *, disabled_by: str) -> None:
    """Stop an account signing in, and end its sessions; refused if there is none or it is disabled already."""
    async with pool.connection() as conn, conn.transaction():
        cur = await execute(conn, _DISABLE, by=disabled_by, name=name)
        if cur.rowcount == 0:
            raise AccountRefused(phrase("there is no enabled account named {name}", name=repr(name)))
        await execute(conn, _END_ALL, name=name)
