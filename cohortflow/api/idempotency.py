"""``Idempotency-Key``: a command sent again under the same key is applied once and answered as the first time.

Every command route takes the header (:data:`KEY`, one definition, so the OpenAPI
document states it alike everywhere), and keeps its promise in one of two ways.

A command sent as a Temporal Update (:data:`Idempotent`: steering a cohort, imports,
the credit bank's changes, a review's steps) becomes the Update of id ``command:KEY``
on the cohort's, plan's, bank's or review's workflow: Temporal admits an Update id
once per workflow run, so a second request joins the first Update and gets its
outcome, however the first request ended (answered, cut off, or answered 202), and
a request sent while the first still runs waits for the same outcome. A cohort's
workflow continues as new when a phase or block closes; the answers it gave to
keyed commands go with it (:mod:`cohortflow.workflows.kept_answers`), so a request
sent again after that is given the same answer by the next run.

Any other command (:data:`AnsweredOnce`: starting a cohort or plan, recording a
programme version, opening a review, issuing certificates) has no Update for a
second request to join, so the key's row claims the command while the first
request runs and then keeps its answer (status, body and the headers in
:data:`KEPT_HEADERS`). The same request sent again is given that answer, marked
``Idempotent-Replayed: true``, and nothing is run again; one sent while the first
still runs is refused 409 with ``Retry-After``. Only a 2xx answer is kept: a
refusal (4xx) changed nothing and an outage (5xx) did nothing, so the same request
sent again is simply run again and may go through; the key is then free for
another request too. A first request that died mid-way (its process killed)
leaves a claim that lapses after :data:`CLAIM_SECONDS`, and the request sent again
then runs the command again. That is safe because every such command is itself
safe to repeat: a cohort, plan or review starts once under its id (a second start
is refused as existing), a programme version with the same content is recorded
once, and certificates are issued once per participant or cycle. Its answer may
then differ from the lost one (409 "exists" rather than 201), never its effect.

In both ways the first request's digest is kept per scope and key
(``api_idempotency_keys``), and a different request under a used key is refused
(422) before anything is run. The scope of a kept answer is the caller (the token's
actor), the method and the path: one caller's keys never give another's answers.
Without a key a command runs as before.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import psycopg
import structlog
from fastapi import Depends, Header, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import BaseModel
from sqlalchemy import Interval, and_, bindparam, delete, func, null, select, update
from sqlalchemy.dialects.postgresql import insert as upsert

from cohortflow.access.roles import Principal
from cohortflow.api.auth import current_principal
from cohortflow.domain.phrases import phrase
from cohortflow.store import tables as t
from cohortflow.store.sql import Statement, execute
from cohortflow.workflows.kept_answers import keyed_update_id

KEY_HEADER = "Idempotency-Key"
KEY_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
"""A UUID, a ULID or any token of letters, digits, ``-`` and ``_``: never the command id's separator (``.``)."""
KEY = Annotated[
    str | None,
    Header(
        alias=KEY_HEADER,
        pattern=KEY_PATTERN,
        description="Send the command again under the same key to have it applied once and its first answer given "
        "again (a kept answer carries `Idempotent-Replayed: true`); a different request under a used key is refused "
        "(422), and one sent while the first is still being answered is refused (409) by a command that is not a "
        "Temporal Update",
    ),
]
"""The header as every command route takes it."""
CLAIM_SECONDS = 120
"""How long a request's claim on its key holds while it runs: far longer than a command takes to be answered.
A claim left by a request that died lapses after it, and the command (safe to repeat) may be sent again."""
RETRY_SECONDS = 2
"""The ``Retry-After`` of a key still in use: a command is usually answered within it, so the request sent again
finds the kept answer (or the key in use, and waits again) rather than waiting out the whole claim."""
REPLAYED = "Idempotent-Replayed"
KEPT_HEADERS = ("content-type", "location", "content-language", "vary")
"""The headers of a kept answer that belong to it (the others, such as the request id, to each request)."""
CLAIM_STATE = "idempotency_claim"


class KeyReused(ValueError):
    """The key was first used for another request of this command."""


class KeyInUse(Exception):
    """The key's first request is still being answered: answered 409, to be sent again after ``retry_after``."""

    def __init__(self, key: str, retry_after: int) -> None:
        super().__init__(
            phrase(
                "the first request under Idempotency-Key {key} is still being answered; send it again in {seconds} s "
                "to be given its answer",
                key=key,
                seconds=retry_after,
            )
        )
        self.retry_after = retry_after


class Replayed(Exception):
    """The key's first answer, given again instead of running the command."""

    def __init__(self, response: Response) -> None:
        super().__init__("replayed")
        self.response = response


def _reused(key: str, command: str, target: str) -> KeyReused:
    return KeyReused(
        phrase(
            "Idempotency-Key {key} was first used for another {command} request to {workflow_id}; "
            "send a new key with a new request",
            key=key,
            command=command,
            workflow_id=target,
        )
    )


_keys = t.api_idempotency_keys
_first = upsert(_keys).values(scope=bindparam("scope"), key=bindparam("key"), request_digest=bindparam("digest"))
# The no-op update makes the statement return the row it found as well as the row it inserted.
FIRST_DIGEST = Statement(
    _first.on_conflict_do_update(
        index_elements=[_keys.c.scope, _keys.c.key], set_={"key": _first.excluded.key}
    ).returning(_keys.c.request_digest)
)


@dataclass(frozen=True)
class Once:
    """A request's idempotency key and where the keys' first requests are kept."""

    key: str
    pool: AsyncConnectionPool

    async def update_id(self, workflow_id: str, command: str, request: BaseModel) -> str:
        """The Update id for ``request`` under this key; :class:`KeyReused` if the key was used for another."""
        digest = hashlib.sha256(request.model_dump_json().encode()).hexdigest()
        scope = f"{workflow_id}/{command}"
        async with self.pool.connection() as conn:
            first = await (await execute(conn, FIRST_DIGEST, scope=scope, key=self.key, digest=digest)).fetchone()
        if first is None or first[0] != digest:
            raise _reused(self.key, command, workflow_id)
        return keyed_update_id(command, self.key)


def idempotency_key(request: Request, key: KEY = None) -> Once | None:
    return None if key is None else Once(key, request.app.state.store.pool)


Idempotent = Annotated[Once | None, Depends(idempotency_key)]
"""A command route's idempotency key, if the request has one, for a command sent as a Temporal Update."""


_claim = upsert(_keys).values(
    scope=bindparam("scope"),
    key=bindparam("key"),
    request_digest=bindparam("digest"),
    claim=bindparam("claim"),
    claimed_until=func.now() + bindparam("lease", type_=Interval),
)
CLAIM = Statement(
    _claim.on_conflict_do_update(
        index_elements=[_keys.c.scope, _keys.c.key],
        set_={"claim": _claim.excluded.claim, "claimed_until": _claim.excluded.claimed_until},
        where=and_(
            _keys.c.request_digest == _claim.excluded.request_digest,
            _keys.c.answer_status.is_(None),
            _keys.c.claimed_until <= func.now(),
        ),
    ).returning(_keys.c.claim)
)
"""A new key claimed, or one whose claim lapsed taken over by the same request; nothing if neither."""
_this_key = and_(_keys.c.scope == bindparam("scope"), _keys.c.key == bindparam("key"))
FOUND = Statement(
    select(_keys.c.request_digest, _keys.c.answer_status, _keys.c.answer_headers, _keys.c.answer_body).where(_this_key)
)
_this_claim = and_(_this_key, _keys.c.claim == bindparam("claim"))
KEEP = Statement(
    update(_keys)
    .where(_this_claim)
    .values(
        answer_status=bindparam("status"),
        answer_headers=bindparam("headers"),
        answer_body=bindparam("body"),
        claimed_until=null(),
    )
)
GIVE_UP = Statement(delete(_keys).where(_this_claim))


@dataclass(frozen=True)
class Claim:
    """A request's hold on its key while it runs its command; the answer is kept, or the claim given up, after."""

    pool: AsyncConnectionPool
    scope: str
    key: str
    token: uuid.UUID

    async def keep(self, response: Response) -> None:
        headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
        async with self.pool.connection() as conn:
            await execute(
                conn,
                KEEP,
                status=response.status_code,
                headers=Jsonb(headers),
                body=bytes(response.body),
                scope=self.scope,
                key=self.key,
                claim=self.token,
            )

    async def give_up(self) -> None:
        async with self.pool.connection() as conn:
            await execute(conn, GIVE_UP, scope=self.scope, key=self.key, claim=self.token)


async def _digest(request: Request) -> str:
    """The request as sent: its query, its body's media type and its body, byte for byte."""
    found = hashlib.sha256()
    for part in (request.url.query, request.headers.get("content-type", "")):
        found.update(part.encode() + b"\0")
    found.update(await request.body())  # FastAPI and the route read the body kept here, not the stream again
    return found.hexdigest()


def _replay(status: int, headers: dict[str, str], body: bytes) -> Response:
    return Response(content=body, status_code=status, headers={**headers, REPLAYED: "true"})


async def kept_answer(
    request: Request, principal: Annotated[Principal, Depends(current_principal)], key: KEY = None
) -> Claim | None:
    """The request's claim on its key, after its token is checked; :class:`Replayed` with the key's kept answer,
    :class:`KeyReused` or :class:`KeyInUse` instead when the key was used before."""
    if key is None:
        return None
    pool: AsyncConnectionPool = request.app.state.store.pool
    # The token (or console account) itself, not its name: two tokens may share a name, never an id.
    scope = f"{principal.token_id} {request.method} {request.url.path}"
    digest = await _digest(request)
    claim = Claim(pool, scope, key, uuid.uuid4())
    for _ in range(3):  # a first request that gives up its claim between the two statements is looked for again
        async with pool.connection() as conn:
            lease = timedelta(seconds=CLAIM_SECONDS)
            claimed = await execute(conn, CLAIM, scope=scope, key=key, digest=digest, claim=claim.token, lease=lease)
            if await claimed.fetchone() is not None:
                setattr(request.state, CLAIM_STATE, claim)
                return claim
            found = await (await execute(conn, FOUND, scope=scope, key=key)).fetchone()
        if found is None:
            continue
        first_digest, status, headers, body = found
        if first_digest != digest:
            raise _reused(key, request.method, request.url.path)
        if status is not None:
            raise Replayed(_replay(status, headers, body))
        raise KeyInUse(key, RETRY_SECONDS)
    raise KeyInUse(key, RETRY_SECONDS)


AnsweredOnce = Annotated[Claim | None, Depends(kept_answer)]
"""A command route's claim on its idempotency key, if the request has one, for a command that is not an Update:
declare it on a route of an :class:`AnswersKept` router, which keeps the answer."""


def _declares(dependant: Dependant, call: Callable[..., object]) -> bool:
    return dependant.call is call or any(_declares(d, call) for d in dependant.dependencies)


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class AnswersKept(APIRoute):
    """A route that keeps its answer under the request's key when it declares :data:`AnsweredOnce`, and gives
    the kept answer to the same request sent again (``APIRouter(route_class=AnswersKept)``)."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        if not _declares(self.dependant, kept_answer):
            return handler

        async def answered_once(request: Request) -> Response:
            try:
                response = await handler(request)
            except Replayed as replayed:
                return replayed.response
            except BaseException:
                await _settle(request, None)
                raise
            await _settle(request, response)
            return response

        return answered_once


async def _settle(request: Request, response: Response | None) -> None:
    """Keep a 2xx answer under the request's claim, or give the claim up (see the module's note on why)."""
    claim: Claim | None = getattr(request.state, CLAIM_STATE, None)
    if claim is None:
        return
    try:
        if response is not None and 200 <= response.status_code < 300 and hasattr(response, "body"):
            await claim.keep(response)
        else:
            await claim.give_up()
    except (psycopg.Error, PoolTimeout, OSError):
        # With the database out the answer cannot be kept: the command's effect stands, and the claim lapses.
        structlog.get_logger().warning("idempotency key not settled: the database did not answer", key=claim.key)
