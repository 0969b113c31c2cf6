"""Append-only PostgreSQL event store with a hash chain.

Appends take a transaction-scoped advisory lock, so positions are assigned and
committed strictly in order: a reader tailing ``position > n`` can never miss an
event that commits late, which bare sequences cannot promise. The lock costs
little because batch activities append thousands of events per call, through
COPY.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import structlog
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import (
    ARRAY,
    BindParameter,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    column,
    func,
    literal,
    not_,
    or_,
    select,
    table,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB, REGCLASS

from cohortflow.domain.canonical import canonical_json
from cohortflow.domain.national_id import PersonKeys
from cohortflow.domain.phrases import phrase
from cohortflow.store import tables as t
from cohortflow.store.chain import GENESIS, ChainRow, chained, record_bytes, timestamp_text
from cohortflow.store.errors import ExpectedVersionMismatch, IdempotencyConflict, UnstorableText
from cohortflow.store.records import AppendResult, EventPayload, HeadDigest, NewEvent, StoredEvent
from cohortflow.store.sql import Statement
from cohortflow.store.wire import EVENT_COLUMNS, Connection, PsycopgWire, Row, Wire, asyncpg_url

log = structlog.get_logger(__name__)

APPEND_LOCK = 0x636F686F7274  # "cohort": one advisory lock serialises all appends
COLUMNS = ", ".join(EVENT_COLUMNS)
"""The columns of ``events`` as SQL, in the order of a stored event's row."""
READ_BATCH = 10_000
PROGRESS_EVERY = 5_000


def libpq_url(url: str) -> str:
    """Accept SQLAlchemy-style URLs (postgresql+psycopg://) as well as libpq ones."""
    scheme, sep, rest = url.partition("://")
    return ("postgresql" + sep + rest) if scheme.startswith("postgresql") else url


ANALYZE_AFTER = 1_000
"""Events an append must add before :meth:`EventStore.grew` looks at the table's statistics."""
PLANNED_COLUMNS = "stream_id, stream_version, type, idempotency_key, recorded_at"
"""The columns whose statistics the planner's choices of index rest on; :meth:`EventStore.grew` measures only these
(the JSON and the hashes, most of a row's bytes, are never filtered on, and measuring them tripled its time)."""
STREAMS_PER_READ = 1_000
"""Streams named in one query of :meth:`EventStore.read_streams`."""
NUL = "\\u0000"  # how canonical JSON writes U+0000, which jsonb refuses

_E = t.events.c
_ALL = select(t.events)
_KEYS: BindParameter[Any] = bindparam("keys")
_STREAM = _E.stream_id == bindparam("stream")
_participant = func.coalesce(_E.data["participant_id"].astext, "")

LOCK = Statement(select(func.pg_advisory_xact_lock(APPEND_LOCK)))
KEYED = Statement(select(_E.position, _E.stream_version, _E.idempotency_key).where(_E.idempotency_key == any_(_KEYS)))
HEAD = Statement(select(_E.position, _E.hash, _E.recorded_at).order_by(_E.position.desc()).limit(1))
HEAD_POSITION = Statement(select(func.max(_E.position)))
STREAM_VERSION = Statement(select(func.coalesce(func.max(_E.stream_version), 0)).where(_STREAM))
_NAMED = func.unnest(cast(bindparam("streams"), ARRAY(Text))).table_valued("stream").render_derived()
STREAM_VERSIONS_OF = Statement(
    select(
        _NAMED.c.stream,
        select(func.coalesce(func.max(_E.stream_version), 0)).where(_E.stream_id == _NAMED.c.stream).scalar_subquery(),
    )
)
"""Each named stream's version, 0 for one with no events: a look-up of the (stream, version) index each."""
VERSIONS_FOUND = Statement(
    select(_E.stream_id, func.max(_E.stream_version))
    .where(_E.stream_id == any_(bindparam("streams")))
    .group_by(_E.stream_id)
)
FIRST_OF_KEY = Statement(select(_E.position).where(_E.idempotency_key == bindparam("key")))
NEXT_OTHER_KEY = Statement(
    select(_E.position)
    .where(_E.position > bindparam("first"), not_(func.starts_with(_E.idempotency_key, bindparam("prefix"))))
    .order_by(_E.position)
    .limit(1)
)
BETWEEN = Statement(_ALL.where(_E.position >= bindparam("first"), _E.position < bindparam("end")).order_by(_E.position))
BY_KEYS = Statement(_ALL.where(_E.idempotency_key == any_(_KEYS)).order_by(_E.position))
_AFTER_POSITION = _ALL.where(_E.position > bindparam("after")).order_by(_E.position).limit(bindparam("limit"))
ALL_AFTER = Statement(_AFTER_POSITION)
"""A page of the log; on asyncpg the JSON arrives as the text stored, which verification hashes without decoding."""
_BEFORE = t.events.alias("before")
COHORT_CHAIN = Statement(
    select(*t.events.c, _BEFORE.c.hash)
    .select_from(t.events.outerjoin(_BEFORE, _BEFORE.c.position == _E.position - 1))
    .where(_STREAM, _E.stream_version > bindparam("after"))
    .order_by(_E.stream_version)
    .limit(bindparam("limit"))
)
_STREAM_PAGE = _ALL.where(_STREAM, _E.stream_version > bindparam("after")).order_by(_E.stream_version)
STREAM_PAGE = Statement(_STREAM_PAGE.limit(bindparam("limit")))
STREAM_PAGE_OF_TYPES = Statement(_STREAM_PAGE.where(_E.type == any_(bindparam("types"))).limit(bindparam("limit")))
PAYLOADS = Statement(
    select(_E.position, _E.type, _E.data, _E.stream_version, _E.schema_version)
    .where(_STREAM, _E.stream_version > bindparam("after"), _E.type == any_(bindparam("types")))
    .order_by(_E.stream_version)
    .limit(bindparam("limit"))
)
_OF_STREAMS = select(_E.position, _E.type, _E.data, _E.stream_id, _E.stream_version, _E.schema_version).where(
    _E.stream_id == any_(bindparam("streams"))
)
STREAMS = Statement(_OF_STREAMS.order_by(_E.stream_id, _E.stream_version))
STREAMS_OF_TYPES = Statement(
    _OF_STREAMS.where(_E.type == any_(bindparam("types"))).order_by(_E.stream_id, _E.stream_version)
)
FIRST_EVENT = Statement(_ALL.where(_STREAM, _E.stream_version == 1))
PARTICIPANT_UNTIL = Statement(
    _ALL.where(
        _STREAM, _participant.in_([bindparam("participant"), ""]), _E.recorded_at <= bindparam("until")
    ).order_by(_E.stream_version)
)
_NAMED_IN = or_(
    cast(_E.data["selected"], JSONB).has_key(bindparam("participant")),
    cast(_E.data["waiting_list"], JSONB).has_key(bindparam("participant")),
)
PARTICIPANT_TIMELINE = Statement(
    union_all(
        _ALL.where(_STREAM, _participant == bindparam("participant")),
        _ALL.where(and_(_STREAM, _participant == "", _E.type == "SelectionDecided", _NAMED_IN)),
    ).order_by("stream_version")
)
_IDENTITY = t.store_identity.c
STORE_ID = Statement(select(cast(_IDENTITY.store_id, Text)))
PERSON_KEY_SECRET = Statement(select(_IDENTITY.person_key_secret))
CHAIN_FORMAT_SINCE = Statement(select(_IDENTITY.chain_format_since))
_PG_CLASS = table("pg_class", column("oid"), column("reltuples"))
MEASURED_ROWS = Statement(
    select(_PG_CLASS.c.reltuples).where(_PG_CLASS.c.oid == cast(literal("events", Text), REGCLASS))
)


class EventStore:
    """The event log. Appends run on the psycopg pool the rest of the code shares (``pool``), where an append can
    also join a caller's transaction (:meth:`append_in`); reads of events run on a pool of asyncpg connections of
    the store's own. :mod:`cohortflow.store.wire` says why each runs where it does."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[TupleRow]], reads: asyncpg.Pool, wait: float) -> None:
        self._pool = pool
        self._reads = reads
        self._wait = wait
        self._person_keys: PersonKeys | None = None
        self._measuring: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._measuring.set_result(None)

    @classmethod
    async def connect(cls, url: str, *, max_size: int = 4, wait: float = 30.0) -> EventStore:
        """``wait``: how long a caller waits for a connection (and a new connection for the server) before
        ``PoolTimeout``; the API keeps it short, so an outage is answered
        at once rather than after 30 s."""
        pool: AsyncConnectionPool[AsyncConnection[TupleRow]] = AsyncConnectionPool(
            libpq_url(url),
            min_size=1,
            max_size=max_size,
            open=False,
            timeout=wait,
            kwargs={"connect_timeout": max(2, round(wait))},  # libpq's least
        )
        await pool.open(wait=True)
        try:
            reads = await asyncpg.create_pool(
                asyncpg_url(libpq_url(url)), min_size=1, max_size=max_size, timeout=max(2.0, wait)
            )
        except BaseException:
            await pool.close()
            raise
        return cls(pool, reads, wait)

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConnection[TupleRow]]:
        return self._pool

    async def close(self) -> None:
        await self.measured()
        await self._reads.close()
        await self._pool.close()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        """One of the asyncpg pool's connections. ``PoolTimeout`` if none is free within ``wait`` or a new one is
        refused, as the psycopg pool says both, so that callers handle one kind of "the database is not answering"
        (asyncpg raises the server's own reason, such as a database not accepting connections, as it comes)."""
        try:
            lent = await self._reads.acquire(timeout=self._wait)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise PoolTimeout(f"no connection to the event store within {self._wait:g} s: {exc}") from exc
        try:
            yield lent
        finally:
            await self._reads.release(lent)

    async def append(
        self,
        stream_id: str,
        events: Iterable[NewEvent],
        *,
        idempotency_key: str,
        expected_version: int | None = None,
        on_progress: Callable[[int], None] | None = None,
        count: int | None = None,
    ) -> AppendResult:
        """Append ``events`` to ``stream_id`` atomically.

        ``idempotency_key`` names the business step (workflow id + step, never a
        run id); appending again under the same key returns the first result and
        writes nothing. ``expected_version`` (0 for a new stream) guards against
        concurrent writers; ``None`` appends at whatever version the stream is.
        ``on_progress`` is told the number of rows written every few thousand rows
        (a batch activity heartbeats with it).

        ``events`` may be a generator (a large import streams through without
        being held in memory); then ``count`` must say how many it yields, so
        a retry can be recognised before any event is produced.
        """
        async with self._pool.connection() as conn, conn.transaction():
            result = await self.append_in(
                conn,
                stream_id,
                events,
                idempotency_key=idempotency_key,
                expected_version=expected_version,
                on_progress=on_progress,
                count=count,
            )
        if not result.duplicate:
            self.grew(result.count)
        return result

    def grew(self, appended: int) -> None:
        """Bring the planner's statistics of ``events`` up to date after a bulk append that grew it by a tenth or
        more (call it once the append has committed).

        PostgreSQL's autovacuum does the same, but up to a minute later. Until then the planner takes the table
        for the size it last measured, for a new store empty: a second import straight after the first then read
        its 50,000 people's streams by sequential scans (71 s instead of 5 s). Small appends skip the check.

        The measuring runs beside the caller, not before the append returns: it takes a few hundred milliseconds
        on a large table, as long as appending 10,000 events, and nothing waits on it but the next import's plans,
        which come seconds later. One measuring at a time; :meth:`measured` waits for it.
        """
        if appended < ANALYZE_AFTER or not self._measuring.done():
            return
        self._measuring = asyncio.ensure_future(self._measure(appended))

    async def measured(self) -> None:
        """Wait until the statistics an earlier append set out to measure (:meth:`grew`) are measured."""
        await asyncio.shield(self._measuring)

    async def _measure(self, appended: int) -> None:
        try:
            async with self._connection() as conn:
                measured = await conn.fetchval(MEASURED_ROWS.numbered)
                if measured is None or measured < 0 or appended >= measured * 0.1:  # -1: never measured
                    await conn.execute(f"ANALYZE events ({PLANNED_COLUMNS})")
        except (PoolTimeout, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            # Only plans suffer, and autovacuum measures within a minute anyway; the append has committed.
            log.warning("events_statistics_not_measured", error=str(exc))

    async def append_in(
        self,
        conn: AsyncConnection[TupleRow],
        stream_id: str,
        events: Iterable[NewEvent],
        *,
        idempotency_key: str,
        expected_version: int | None = None,
        on_progress: Callable[[int], None] | None = None,
        count: int | None = None,
    ) -> AppendResult:
        """:meth:`append` inside the caller's open transaction on the psycopg connection ``conn``.

        For writes that must commit or fail together with the events, such as
        an outbox row changing state alongside the event that records it.
        """
        return await append_events(
            PsycopgWire(conn),
            stream_id,
            events,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
            on_progress=on_progress,
            count=count,
        )

    async def append_each(self, appends: Sequence[Append]) -> list[AppendResult]:
        """:meth:`append_each_in` in a transaction of its own, then the planner's statistics kept up (:meth:`grew`)."""
        async with self._pool.connection() as conn, conn.transaction():
            results = await self.append_each_in(conn, appends)
        self.grew(sum(r.count for r in results if not r.duplicate))
        return results

    async def append_each_in(self, conn: AsyncConnection[TupleRow], appends: Sequence[Append]) -> list[AppendResult]:
        """Several appends, each under its own idempotency key, in the caller's open transaction on the psycopg
        connection ``conn``.

        The same as :meth:`append_in` once per item, but with one lock, one
        look-up of earlier appends, one read of the head and one ``COPY``: many
        small appends (one event per delivered reminder) cost one round of each.
        """
        return await _append_each(PsycopgWire(conn), appends)

    async def recorded(self, idempotency_key: str) -> list[StoredEvent] | None:
        """The events appended earlier under ``idempotency_key``, or None if there were none.

        A batch occupies consecutive positions (appends are serialised), so it
        runs from its first event to the first later position with another key.
        """
        async with self._connection() as conn:
            first = await conn.fetchval(FIRST_OF_KEY.numbered, f"{idempotency_key}#0")
            if first is None:
                return None
            after = await conn.fetchval(*_numbered(NEXT_OTHER_KEY, first=first, prefix=f"{idempotency_key}#"))
            end = after if after is not None else (await conn.fetchval(HEAD_POSITION.numbered) or 0) + 1
            return [stored_event(row) for row in await conn.fetch(*_numbered(BETWEEN, first=first, end=end))]

    async def read_keyed(self, idempotency_keys: Sequence[str]) -> list[StoredEvent]:
        """The events stored under these exact keys (an append's keys end in ``#i``), in position order."""
        async with self._connection() as conn:
            return [stored_event(row) for row in await conn.fetch(BY_KEYS.numbered, list(idempotency_keys))]

    async def copy_rows(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert rows exactly as given (restoring a bundle); their hashes are the caller's."""
        async with self._pool.connection() as conn, conn.transaction():
            wire = PsycopgWire(conn)
            await wire.rows(LOCK)
            await wire.copy_events(_each(rows))

    async def store_id(self) -> str:
        """This store's identity, set once when its schema was created."""
        async with self._connection() as conn:
            found = await conn.fetchval(STORE_ID.numbered)
        if found is None:
            raise RuntimeError(phrase("the store has no identity row; run the migrations"))
        return str(found)

    async def person_keys(self, conn: AsyncConnection[TupleRow] | None = None) -> PersonKeys:
        """How this store keys people: its secret, set once when it was created (None in a legacy store whose
        unkeyed person keys predate secrets). Read once (on ``conn`` if the caller holds one), then kept: the
        identity row never changes."""
        if self._person_keys is None:
            if conn is None:
                async with self._pool.connection() as own:
                    self._person_keys = await _person_keys(own)
            else:
                self._person_keys = await _person_keys(conn)
        return self._person_keys

    async def chain_format_since(self) -> int:
        """The first position stored in chain format 2 (see :mod:`cohortflow.store.chain`); written once."""
        async with self._connection() as conn:
            found = await conn.fetchval(CHAIN_FORMAT_SINCE.numbered)
        if found is None:
            raise RuntimeError(phrase("the store has no identity row; run the migrations"))
        return int(found)

    async def read_chain(self, after_position: int = 0) -> AsyncGenerator[list[ChainRow]]:
        """Every event after ``after_position`` in position order, as verification reads them, a batch at a time.

        The next batch is asked for before the current one is handed over, so the server reads it while the
        caller hashes."""

        async def page(after: int) -> list[ChainRow]:
            async with self._connection() as conn:
                return await conn.fetch(ALL_AFTER.numbered, after, READ_BATCH, record_class=ChainRow)

        pending = asyncio.ensure_future(page(after_position))
        try:
            while True:
                rows = await pending
                if len(rows) == READ_BATCH:
                    pending = asyncio.ensure_future(page(rows[-1].position))
                    await asyncio.sleep(0)  # let the query go out before the caller's hashing holds the loop
                yield rows
                if len(rows) < READ_BATCH:
                    return
        finally:
            pending.cancel()  # a caller that stops early leaves no query behind

    async def read_cohort_chain(self, stream_id: str) -> AsyncIterator[tuple[ChainRow, str | None]]:
        """A stream's events as verification reads them, each with the hash of the event at the position before it."""
        async for row in self._pages(COHORT_CHAIN, {"stream": stream_id}, 0, 2, ChainRow):
            yield row, row[-1]  # the columns of a ChainRow, then the hash before it

    async def head(self) -> HeadDigest:
        async with self._connection() as conn:
            found = await conn.fetchrow(HEAD.numbered)
        return HeadDigest(0, GENESIS, None) if found is None else HeadDigest(*found)

    async def stream_version(self, stream_id: str) -> int:
        async with self._connection() as conn:
            return int(await conn.fetchval(STREAM_VERSION.numbered, stream_id))

    async def read_stream(
        self, stream_id: str, after_version: int = 0, types: Sequence[str] | None = None
    ) -> AsyncIterator[StoredEvent]:
        """Events of one stream in version order (optionally of some types only), in batches."""
        if types is None:
            pages = self._pages(STREAM_PAGE, {"stream": stream_id}, after_version, 2)
        else:
            pages = self._pages(STREAM_PAGE_OF_TYPES, {"stream": stream_id, "types": list(types)}, after_version, 2)
        async for row in pages:
            yield stored_event(row)

    async def read_payloads(self, stream_id: str, types: Sequence[str]) -> AsyncIterator[EventPayload]:
        """Position, type and data of a stream's events of some types, in order: for folds."""
        async for position, kind, data, _, version in self._pages(
            PAYLOADS, {"stream": stream_id, "types": list(types)}, 0, 3
        ):
            yield EventPayload(position, kind, decoded(data), version)

    async def read_streams(
        self, stream_ids: Sequence[str], types: Sequence[str] | None = None
    ) -> AsyncIterator[tuple[str, int, EventPayload]]:
        """(stream, the event's version, payload) of every event (of some types only) of many small streams, each
        stream in order: a file's people are read a thousand streams a query instead of one query per person.

        Each query names its streams and has no LIMIT: paging the whole set by position tempted the planner into
        walking the position index past millions of other streams' events (minutes, on a table whose statistics
        lagged its growth), where the (stream, version) index finds each stream's few events at once.
        """
        streams = list(stream_ids)
        for start in range(0, len(streams), STREAMS_PER_READ):
            named = streams[start : start + STREAMS_PER_READ]
            async with self._connection() as conn:
                if types is None:
                    rows = await conn.fetch(STREAMS.numbered, named)
                else:
                    rows = await conn.fetch(*_numbered(STREAMS_OF_TYPES, streams=named, types=list(types)))
            for position, kind, data, stream_id, version, schema in rows:
                yield stream_id, version, EventPayload(position, kind, decoded(data), schema)

    async def stream_versions(self, stream_ids: Sequence[str]) -> dict[str, int]:
        """The version of each of many streams (absent: a stream with no events)."""
        streams, versions = list(stream_ids), {}
        for start in range(0, len(streams), STREAMS_PER_READ):
            async with self._connection() as conn:
                rows = await conn.fetch(VERSIONS_FOUND.numbered, streams[start : start + STREAMS_PER_READ])
            versions.update({stream_id: int(version) for stream_id, version in rows})
        return versions

    async def _pages(
        self,
        statement: Statement,
        params: dict[str, Any],
        after: int,
        key_column: int,
        record_class: type[asyncpg.Record] = asyncpg.Record,
    ) -> AsyncIterator[Any]:
        """Rows of ``statement`` page by page (``after``, ``limit``), keyed on column ``key_column``."""
        while True:
            async with self._connection() as conn:
                rows = await conn.fetch(
                    *_numbered(statement, **params, after=after, limit=READ_BATCH), record_class=record_class
                )
            for row in rows:
                yield row
            if len(rows) < READ_BATCH:
                return
            after = int(rows[-1][key_column])

    async def first_event(self, stream_id: str) -> StoredEvent | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(FIRST_EVENT.numbered, stream_id)
        return stored_event(row) if row else None

    async def read_participant(self, stream_id: str, participant_id: str, until: datetime) -> list[StoredEvent]:
        """One participant's events in a stream, with the stream's own (no participant), up to ``until``."""
        async with self._connection() as conn:
            rows = await conn.fetch(
                *_numbered(PARTICIPANT_UNTIL, stream=stream_id, participant=participant_id, until=until)
            )
        return [stored_event(row) for row in rows]

    async def read_participant_timeline(self, stream_id: str, participant_id: str) -> list[StoredEvent]:
        """A participant's own events in a stream, and the selections that name them, in order.

        Both halves are served by the participant index; the stream's other
        events (its start, with the whole programme) are never read or decoded.
        """
        async with self._connection() as conn:
            rows = await conn.fetch(*_numbered(PARTICIPANT_TIMELINE, stream=stream_id, participant=participant_id))
        return [stored_event(row) for row in rows]

    async def read_all(self, after_position: int = 0, limit: int | None = None) -> AsyncIterator[StoredEvent]:
        """Every event after ``after_position`` in position (= commit) order.

        As :meth:`read_chain` does, the next page is asked for before the current one is decoded."""
        remaining = limit
        # The events of a batch share their metadata: decode each distinct one once.
        metadata: dict[str, dict[str, Any]] = {}

        def size() -> int:
            return READ_BATCH if remaining is None else min(READ_BATCH, remaining)

        async def page(after: int, size: int) -> tuple[int, list[asyncpg.Record]]:
            async with self._connection() as conn:
                return size, await conn.fetch(ALL_AFTER.numbered, after, size)

        if size() <= 0:
            return
        pending = asyncio.ensure_future(page(after_position, size()))
        try:
            while True:
                asked, rows = await pending
                if remaining is not None:
                    remaining -= len(rows)
                more = len(rows) == asked and size() > 0
                if more:
                    pending = asyncio.ensure_future(page(rows[-1][0], size()))
                    await asyncio.sleep(0)  # let the query go out before the decoding below holds the loop
                if len(metadata) > 10_000:
                    metadata.clear()
                for row in rows:
                    text = row[6]
                    known = metadata.get(text)
                    if known is None:
                        known = metadata[text] = decoded(text)
                    yield stored_event(row, known)
                if not more:
                    return
        finally:
            pending.cancel()


async def append_events(
    wire: Wire,
    stream_id: str,
    events: Iterable[NewEvent],
    *,
    idempotency_key: str,
    expected_version: int | None,
    on_progress: Callable[[int], None] | None,
    count: int | None,
) -> AppendResult:
    """:meth:`EventStore.append` on ``wire``, inside its open transaction: the store's append, whichever driver
    carries it (the store's is psycopg; ``bench/drivers.py`` runs it on asyncpg too)."""
    if count is None:
        if not isinstance(events, Sequence):
            raise ValueError("append needs a count when events is not a sequence")
        count = len(events)
    if count < 1:
        raise ValueError("append needs at least one event")
    if not idempotency_key:
        raise ValueError("append needs an idempotency key")
    await wire.rows(LOCK)
    found = await wire.rows(KEYED, keys=[f"{idempotency_key}#0", f"{idempotency_key}#{count - 1}"])
    earlier = _earlier({k: (p, v) for p, v, k in found}, idempotency_key, count)
    if earlier is not None:
        return earlier
    version = int((await wire.rows(STREAM_VERSION, stream=stream_id))[0][0])
    if expected_version is not None and expected_version != version:
        raise ExpectedVersionMismatch(stream_id, expected_version, version)
    chain = _Chain(await _head(wire))
    first = chain.position + 1
    await wire.copy_events(chain.rows([((stream_id, idempotency_key), events)], {stream_id: version}, on_progress))
    if chain.position - first + 1 != count:
        raise ValueError(f"append was told {count} events but got {chain.position - first + 1}")
    return AppendResult(first, chain.position, version + count, duplicate=False)


async def _append_each(wire: Wire, appends: Sequence[Append]) -> list[AppendResult]:
    """:meth:`EventStore.append_each_in` on ``wire``, inside its open transaction."""
    for a in appends:
        if not a.events or not a.idempotency_key:
            raise ValueError("each append needs an idempotency key and at least one event")
    await wire.rows(LOCK)
    keys = [k for a in appends for k in (f"{a.idempotency_key}#0", f"{a.idempotency_key}#{len(a.events) - 1}")]
    found = {k: (p, v) for p, v, k in await wire.rows(KEYED, keys=keys)}
    named = sorted({a.stream_id for a in appends})
    versions: dict[str, int] = {s: int(v) for s, v in await wire.rows(STREAM_VERSIONS_OF, streams=named)}
    chain = _Chain(await _head(wire))
    results: list[AppendResult] = []
    batches: list[tuple[tuple[str, str], Sequence[NewEvent]]] = []
    starts: dict[str, int] = {}
    last = chain.position
    for a in appends:
        earlier = _earlier(found, a.idempotency_key, len(a.events))
        if earlier is not None:
            results.append(earlier)
            continue
        if a.expected_version is not None and a.expected_version != versions[a.stream_id]:
            raise ExpectedVersionMismatch(a.stream_id, a.expected_version, versions[a.stream_id])
        first, last = last + 1, last + len(a.events)
        starts.setdefault(a.stream_id, versions[a.stream_id])
        versions[a.stream_id] += len(a.events)
        results.append(AppendResult(first, last, versions[a.stream_id], duplicate=False))
        batches.append(((a.stream_id, a.idempotency_key), a.events))
        # A key repeated within the call is an earlier append by the time it comes again.
        found[f"{a.idempotency_key}#0"] = (first, versions[a.stream_id] - len(a.events) + 1)
        found[f"{a.idempotency_key}#{len(a.events) - 1}"] = (last, versions[a.stream_id])
    if batches:
        await wire.copy_events(chain.rows(batches, starts, None))
    return results


async def _head(wire: Wire) -> HeadDigest:
    found = await wire.rows(HEAD)
    if not found:
        return HeadDigest(0, GENESIS, None)
    position, digest, recorded_at = found[0]
    return HeadDigest(int(position), str(digest), recorded_at)


def _numbered(statement: Statement, /, **values: Any) -> tuple[Any, ...]:
    """``statement``'s asyncpg text followed by its arguments: what ``fetch`` and ``fetchval`` take."""
    return (statement.numbered, *statement.positional(values))


async def _each(rows: Iterable[tuple[Any, ...]]) -> AsyncIterator[tuple[Any, ...]]:
    for row in rows:
        yield row


async def _person_keys(conn: AsyncConnection[TupleRow]) -> PersonKeys:
    row = await (await conn.execute(PERSON_KEY_SECRET.sql)).fetchone()
    if row is None:
        raise RuntimeError(phrase("the store has no identity row; run the migrations"))
    return PersonKeys(None if row[0] is None else bytes(row[0]))


def stored_event(row: Row, metadata: dict[str, Any] | None = None) -> StoredEvent:
    """An event from its row as asyncpg gives it (the JSON as text); ``metadata`` already decoded, if it is."""
    position, stream_id, version, kind, schema, data, stored_metadata, recorded_at, key, prev_hash, digest = row
    if metadata is None:
        metadata = decoded(stored_metadata)
    # By position: a replay builds one per event, and naming eleven fields costs a third more.
    return StoredEvent(
        position, stream_id, version, kind, schema, decoded(data), metadata, recorded_at, key, prev_hash, digest
    )


def decoded(text: str) -> Any:
    """Stored JSON as Python values. orjson reads it three times faster than the standard library, to the same
    values; what orjson refuses and the standard library takes (an integer beyond 64 bits, a lone surrogate
    escaped) is read by the standard library. Hashes never depend on this: they cover the stored text."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


@dataclass(frozen=True)
class Append:
    """One item of :meth:`EventStore.append_each_in`."""

    stream_id: str
    events: Sequence[NewEvent]
    idempotency_key: str
    expected_version: int | None = None


def _earlier(found: dict[str, tuple[int, int]], key: str, count: int) -> AppendResult | None:
    """The earlier append of ``count`` events under ``key``, from the positions and versions of its first and last."""
    first, last = found.get(f"{key}#0"), found.get(f"{key}#{count - 1}")
    if first is None and last is None:
        return None
    if first is None or last is None or last[0] - first[0] != count - 1:
        raise IdempotencyConflict(
            phrase("idempotency key {key} was used for a different batch of events", key=repr(key))
        )
    return AppendResult(first[0], last[0], last[1], duplicate=True)


class _Chain:
    """The rows of ``COPY events``, each hashed onto the one before it."""

    def __init__(self, head: HeadDigest) -> None:
        self.position, self.prev = head.position, head.hash
        self.recorded_at = datetime.now(UTC)
        self.recorded_text = timestamp_text(self.recorded_at)

    async def rows(
        self,
        batches: Iterable[tuple[tuple[str, str], Iterable[NewEvent]]],
        versions: dict[str, int],
        on_progress: Callable[[int], None] | None,
    ) -> AsyncIterator[tuple[Any, ...]]:
        """The rows of ``((stream, idempotency key), events)`` batches in turn; ``versions``: each stream's version
        before its first event here. ``on_progress`` is told how many rows have been made every few thousand."""
        versions = dict(versions)
        metadata: dict[str, Any] | None = None
        metadata_json = ""
        made = 0
        # This loop runs once per event appended, and the client's time in it is most of what a bulk append costs
        # beyond a raw COPY: the chain is carried in locals, the previous hash as its 32 bytes (turned into hex once,
        # for its row), and each row is built directly.
        position, prev, prev_digest = self.position, self.prev, bytes.fromhex(self.prev)
        recorded_at, recorded_text = self.recorded_at, self.recorded_text
        for (stream_id, key), events in batches:
            version = versions[stream_id]
            for i, event in enumerate(events):
                position += 1
                version += 1
                data_json = canonical_json(event.data)
                if NUL in data_json:
                    raise UnstorableText(
                        phrase(
                            "event {i} ({type}) contains U+0000, which PostgreSQL cannot store", i=i, type=event.type
                        )
                    )
                if event.metadata is not metadata:  # a batch usually shares one metadata dict
                    metadata, metadata_json = event.metadata, canonical_json(event.metadata)
                event_key, kind, schema = f"{key}#{i}", event.type, event.schema_version
                try:
                    record = record_bytes(
                        position, stream_id, version, kind, schema, data_json, metadata_json, recorded_text, event_key
                    )
                except UnicodeEncodeError:
                    raise UnstorableText(
                        phrase(
                            "event {i} ({type}) contains a lone surrogate, which UTF-8 cannot encode",
                            i=i,
                            type=event.type,
                        )
                    ) from None
                prev_digest = chained(prev_digest, record)
                digest = prev_digest.hex()
                yield (
                    position,
                    stream_id,
                    version,
                    kind,
                    schema,
                    data_json,
                    metadata_json,
                    recorded_at,
                    event_key,
                    prev,
                    digest,
                )
                prev = digest
                made += 1
                if made % PROGRESS_EVERY == 0:
                    if on_progress is not None:
                        on_progress(made)
                    await asyncio.sleep(0)  # let heartbeats and other tasks through
            versions[stream_id] = version
        self.position, self.prev = position, prev  # the chain's head once every row is made: an append checks its count
