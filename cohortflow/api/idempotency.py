"""``Idempotency-Key``: a command sent again under the same key is applied once and answered as the first time.

The key becomes the Temporal Update's id, scoped by the command (``fill_place:KEY``) on
the cohort's or plan's workflow: Temporal admits an Update id once per workflow run, so
a second request joins the first Update and gets its outcome, however the first request
ended (answered, cut off, or answered 202). Temporal does not compare the requests, so
the first request's digest is kept per workflow, command and key
(``api_idempotency_keys``), and a different request under a used key is refused (422)
before anything is sent. Without a key a command is sent as before, under an id of its
own, and a cohort refuses a command it has already applied.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from cohortflow.domain.phrases import phrase

KEY_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
"""A UUID, a ULID or any token of letters, digits, ``-`` and ``_``: never the command id's separator (``.``)."""


class KeyReused(ValueError):
    """The key was first used for another request of this command."""


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
            raise KeyReused(
                phrase(
                    "Idempotency-Key {key} was first used for another {command} request to {workflow_id}; "
                    "send a new key with a new request",
                    key=self.key,
                    command=command,
                    workflow_id=workflow_id,
                )
            )
        return f"{command}:{self.key}"


def idempotency_key(
    request: Request,
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=KEY_PATTERN,
            description="Send the command again under the same key to have it applied once and its first answer "
            "given again; a different request under a used key is refused (422)",
        ),
    ] = None,
) -> Once | None:
    return None if key is None else Once(key, request.app.state.store.pool)


Idempotent = Annotated[Once | None, Depends(idempotency_key)]
"""A command route's idempotency key, if the request has one."""
