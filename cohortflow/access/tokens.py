"""Issue, revoke, list and authenticate bearer tokens kept in PostgreSQL.

A secret reads ``cf_<token id>_<random>``: the prefix lets secret scanners and
people recognise it, the embedded id lets an operator name the token to revoke
without ever handling the secret again. Only the secret's SHA-256 is stored; a
plain hash (no salt, no slow KDF) suffices because the secret carries 256 random
bits, and it keeps authentication one indexed lookup.

There is deliberately no cache: each request reads the row, so a revocation takes
effect on the very next request. The read is one indexed statement, and a request
that reads anyway makes it on the connection it reads with (see
``cohortflow.api.auth.reading``), so exactness costs no extra pool checkout and no
transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from psycopg import AsyncConnection
from psycopg.rows import TupleRow, class_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import bindparam, func, insert, select, update

from cohortflow.access.roles import Principal, Role, as_role, is_prefecture_code, prefecture_of
from cohortflow.domain.phrases import phrase
from cohortflow.store import tables as t
from cohortflow.store.sql import Statement, execute

Conn = AsyncConnection[TupleRow]
Pool = AsyncConnectionPool[Conn]

SECRET_PREFIX = "cf_"
_SECRET = re.compile(r"cf_([0-9a-f]{16})_[A-Za-z0-9_-]{43}")
MAX_NAME = 100
_T = t.access_tokens
_INFO = tuple(_T.c[n] for n in ("token_id", "name", "role", "prefecture", "issued_at", "issued_by"))
_INFO += tuple(_T.c[n] for n in ("revoked_at", "revoked_by", "county", "school"))
_HOLDER = ("token_id", "secret_sha256", "name", "role", "prefecture", "county", "school", "issued_by")
_ISSUE = Statement(insert(_T).values({n: bindparam(n) for n in _HOLDER}))
_this = _T.c.token_id == bindparam("token")
# FOR UPDATE, so that of two concurrent revocations the second is told "already revoked"
_TO_REVOKE = Statement(select(*_INFO).where(_this).with_for_update())
_REVOKE = Statement(update(_T).where(_this).values(revoked_at=func.now(), revoked_by=bindparam("by")).returning(*_INFO))
_LIST = Statement(select(*_INFO).order_by(_T.c.issued_at, _T.c.token_id))


class TokenRefused(ValueError):
    """A token operation that was refused; nothing was written."""


TOKEN = phrase("token")
ACCOUNT = phrase("account")
"""What a refusal of :func:`checked_holder` names: a token, or a console account (said in the reader's language)."""


@dataclass(frozen=True)
class IssuedToken:
    token_id: str
    secret: str  # exists only here, once: the database keeps its hash
    name: str
    role: Role
    prefecture: str | None
    county: str | None = None
    school: str | None = None


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    name: str
    role: Role
    prefecture: str | None
    issued_at: datetime
    issued_by: str
    revoked_at: datetime | None
    revoked_by: str | None
    county: str | None = None
    school: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Unit:
    """Where a scoped token acts: a coordinator's prefecture; a district reviewer's county (and its prefecture); a
    school's county and school."""

    prefecture: str | None = None
    county: str | None = None
    school: str | None = None


def checked_holder(name: str, role: str, unit: Unit, what: str = TOKEN) -> tuple[str, Role, Unit]:
    """The name, role and unit of a new token (or console account, ``what``), checked; refused with the reason."""
    name = name.strip()
    if not name:
        if what[:1] in "aeiou":
            raise TokenRefused(phrase("an {what} needs a name (who or what will hold it)", what=what))
        raise TokenRefused(phrase("a {what} needs a name (who or what will hold it)", what=what))
    if len(name) > MAX_NAME:
        raise TokenRefused(
            phrase("the name is {length} characters long; at most {most} are allowed", length=len(name), most=MAX_NAME)
        )
    if not name.isprintable():
        raise TokenRefused(phrase("the name contains control characters"))
    try:
        checked_role = as_role(role)
    except ValueError as exc:
        raise TokenRefused(str(exc)) from None
    return name, checked_role, _unit(checked_role, unit, what)


def _unit(role: Role, unit: Unit, what: str) -> Unit:
    """The unit a token of ``role`` is bound to, checked: exactly what the role needs, nothing more."""
    if role == "coordinator":
        if unit.prefecture is None:
            raise TokenRefused(phrase("a coordinator {what} needs the six-digit code of its prefecture", what=what))
        if not is_prefecture_code(unit.prefecture):
            raise TokenRefused(
                phrase("prefecture {prefecture} is not a six-digit prefecture code", prefecture=repr(unit.prefecture))
            )
        if unit.county is not None or unit.school is not None:
            raise TokenRefused(
                phrase("a coordinator {what} is bound to a prefecture only, not to a county or a school", what=what)
            )
        return unit
    if role in ("school", "reviewer"):
        if unit.county is None or not is_prefecture_code(unit.county):
            raise TokenRefused(phrase("a {role} {what} needs the six-digit code of its county", role=role, what=what))
        if unit.prefecture is not None:
            raise TokenRefused(
                phrase("a {role} {what}'s prefecture is its county's: give the county only", role=role, what=what)
            )
        school = (unit.school or "").strip()
        if role == "school" and not (0 < len(school) <= 200 and school.isprintable()):
            raise TokenRefused(phrase("a school {what} needs the school's name (as the registry writes it)", what=what))
        if role == "reviewer" and unit.school is not None:
            raise TokenRefused(phrase("a district reviewer's {what} is bound to a county, not to a school", what=what))
        return Unit(prefecture_of(unit.county), unit.county, school or None)
    if unit.prefecture is not None:
        raise TokenRefused(
            phrase("only coordinators are bound to a prefecture; {role} {what}s act on every one", role=role, what=what)
        )
    if unit != Unit():
        raise TokenRefused(
            phrase(
                "only schools and district reviewers are bound to a county; {role} {what}s act on every one",
                role=role,
                what=what,
            )
        )
    return unit


async def issue_token(
    pool: Pool,
    *,
    name: str,
    role: str,
    prefecture: str | None,
    issued_by: str,
    county: str | None = None,
    school: str | None = None,
) -> IssuedToken:
    """Store a new token and return its secret, which is not kept and cannot be shown again."""
    name, checked_role, unit = checked_holder(name, role, Unit(prefecture, county, school))
    if not issued_by:
        raise TokenRefused(phrase("a token needs to say who issued it"))
    token_id = secrets.token_hex(8)
    secret = f"{SECRET_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    async with pool.connection() as conn:
        holder = (token_id, _digest(secret), name, checked_role, unit.prefecture, unit.county, unit.school, issued_by)
        await execute(conn, _ISSUE, **dict(zip(_HOLDER, holder, strict=True)))
    return IssuedToken(token_id, secret, name, checked_role, unit.prefecture, unit.county, unit.school)


async def revoke_token(pool: Pool, token_id: str, *, revoked_by: str) -> TokenInfo:
    """Revoke a token from its next use on; refused if it does not exist or is already revoked."""
    if not revoked_by:
        raise TokenRefused(phrase("a revocation needs to say who revoked the token"))
    rows = class_row(TokenInfo)
    async with pool.connection() as conn, conn.transaction(), conn.cursor(row_factory=rows) as cur:
        await cur.execute(_TO_REVOKE.sql, _TO_REVOKE.args(token=token_id))
        found = await cur.fetchone()
        if found is None:
            raise TokenRefused(phrase("token {token_id} does not exist", token_id=token_id))
        if found.revoked_at is not None:
            when = found.revoked_at.isoformat(" ", "seconds")
            raise TokenRefused(
                phrase(
                    "token {token_id} was already revoked by {revoked_by} at {when}",
                    token_id=token_id,
                    revoked_by=found.revoked_by,
                    when=when,
                )
            )
        await cur.execute(_REVOKE.sql, _REVOKE.args(by=revoked_by, token=token_id))
        revoked = await cur.fetchone()
    assert revoked is not None  # the row was locked, so the update found it
    return revoked


async def list_tokens(pool: Pool) -> list[TokenInfo]:
    """Every token ever issued, revoked ones included, oldest first (never their secrets)."""
    async with pool.connection() as conn, conn.cursor(row_factory=class_row(TokenInfo)) as cur:
        await cur.execute(_LIST.sql, _LIST.args())
        return await cur.fetchall()


_AUTHENTICATE = Statement(
    select(
        _T.c.token_id, _T.c.name, _T.c.role, _T.c.prefecture, _T.c.revoked_at.is_not(None), _T.c.county, _T.c.school
    ).where(_T.c.secret_sha256 == bindparam("digest"), _this)
)

RefusalReason = Literal["malformed", "unknown", "revoked"]


@dataclass(frozen=True)
class Refused:
    """Why a secret signs no one in, for the log (never for the caller, who is told only that it was refused)."""

    reason: RefusalReason
    token_id: str | None
    """The public id a well-formed secret names (the part before its random tail); None if malformed."""


async def check_secret(source: Pool | Conn, secret: str) -> Principal | Refused:
    """The principal a secret stands for, or why it stands for no one: malformed, unknown or revoked.

    ``source`` is the pool, or a connection the caller holds already (the lookup is then one statement on it).
    A revoked token is found by the same one indexed statement as a valid one, so telling the two apart costs nothing.
    """
    match = _SECRET.fullmatch(secret)
    if match is None:
        return Refused("malformed", None)  # spares the database a lookup that cannot succeed
    token_id = match[1]
    params = {"digest": _digest(secret), "token": token_id}
    if isinstance(source, AsyncConnection):
        row = await (await execute(source, _AUTHENTICATE, **params)).fetchone()
    else:
        async with source.connection() as conn:
            row = await (await execute(conn, _AUTHENTICATE, **params)).fetchone()
    if row is None:
        return Refused("unknown", token_id)
    if row[4]:
        return Refused("revoked", token_id)
    return Principal(
        token_id=row[0], name=row[1], role=as_role(row[2]), prefecture=row[3], county=row[5], school=row[6]
    )
