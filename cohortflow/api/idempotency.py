"""``Idempotency-Key``: a command sent again under the same key is applied once and answered as the first time.

Every command route takes the header (:data:`KEY`, one definition, so the OpenAPI
document states it alike everywhere), and keeps its promise in one of two ways.

A command sent as a Temporal Update (:data:`Idempotent`: steering a cohort, imports,
the credit bank's changes, a review's steps) becomes the Update of id ``command:KEY``
on the cohort's, plan's, bank's or review's workflow: Temporal admits an Update id
once per workflow run, so a second request joins the first Update and gets its
outcome, however the first request ended (answered, cut off, or answered 202), and
a request sent while the first still runs waits for the same outcome.

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
import json
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

import psycopg
import structlog
from fastapi import Depends, Header, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import BaseModel

from cohortflow.access.roles import Principal
from cohortflow.api.auth import current_principal
from cohortflow.domain.phrases import phrase

KEY_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
"""A UUID, a ULID or any token of letters, digits, ``-`` and ``_``: never the command id's separator (``.``)."""
KEY = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
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
            # The no-op update makes the statement return the row it found as well as the row it inserted.
            cur = await conn.execute(
                "INSERT INTO api_idempotency_keys (scope, key, request_digest) VALUES (%s, %s, %s) "
                "ON CONFLICT (scope, key) DO UPDATE SET key = excluded.key RETURNING request_digest",
                (scope, self.key, digest),
            )
            first = await cur.fetchone()
        if first is None or first[0] != digest:
            raise _reused(self.key, command, workflow_id)
        return f"{command}:{self.key}"


def idempotency_key(request: Request, key: KEY = None) -> Once | None:
    return None if key is None else Once(key, request.app.state.store.pool)


Idempotent = Annotated[Once | None, Depends(idempotency_key)]
"""A command route's idempotency key, if the request has one, for a command sent as a Temporal Update."""


CLAIM = """
INSERT INTO api_idempotency_keys AS k (scope, key, request_digest, claim, claimed_until)
VALUES (%(scope)s, %(key)s, %(digest)s, %(claim)s, now() + make_interval(secs => %(seconds)s))
ON CONFLICT (scope, key) DO UPDATE SET claim = excluded.claim, claimed_until = excluded.claimed_until
WHERE k.request_digest = excluded.request_digest AND k.answer_status IS NULL AND k.claimed_until <= now()
RETURNING k.claim
"""
"""A new key claimed, or one whose claim lapsed taken over by the same request; nothing if neither."""
FOUND = """
SELECT request_digest, answer_status, answer_headers, answer_body
FROM api_idempotency_keys WHERE scope = %s AND key = %s
"""


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
            await conn.execute(
                "UPDATE api_idempotency_keys SET answer_status = %s, answer_headers = %s, answer_body = %s, "
                "claimed_until = NULL WHERE scope = %s AND key = %s AND claim = %s",
                (response.status_code, json.dumps(headers), bytes(response.body), self.scope, self.key, self.token),
            )

    async def give_up(self) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "DELETE FROM api_idempotency_keys WHERE scope = %s AND key = %s AND claim = %s",
                (self.scope, self.key, self.token),
            )


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
            params = {"scope": scope, "key": key, "digest": digest, "claim": claim.token, "seconds": CLAIM_SECONDS}
            if await (await conn.execute(CLAIM, params)).fetchone() is not None:
                setattr(request.state, CLAIM_STATE, claim)
                return claim
            found = await (await conn.execute(FOUND, (scope, key))).fetchone()
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
