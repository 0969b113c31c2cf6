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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection, AsyncCopy
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from cohortflow.domain.canonical import canonical_json
from cohortflow.domain.national_id import PersonKeys
from cohortflow.domain.phrases import phrase
from cohortflow.store.chain import GENESIS, ChainRow, chain_hash, record_bytes, timestamp_text
from cohortflow.store.errors import ExpectedVersionMismatch, IdempotencyConflict, UnstorableText
from cohortflow.store.records import AppendResult, EventPayload, HeadDigest, NewEvent, StoredEvent

APPEND_LOCK = 0x636F686F7274  # "cohort": one advisory lock serialises all appends
COLUMNS = (
    "position, stream_id, stream_version, type, schema_version, data, metadata, "
    "recorded_at, idempotency_key, prev_hash, hash"
)
CHAIN_COLUMNS = COLUMNS.replace(" data,", " data::text,").replace(" metadata,", " metadata::text,")
"""The columns of a :class:`ChainRow`: the JSON as the text stored, which verification hashes without decoding."""
READ_BATCH = 10_000
PROGRESS_EVERY = 5_000


def libpq_url(url: str) -> str:
    """Accept SQLAlchemy-style URLs (postgresql+psycopg://) as well as libpq ones."""
    scheme, sep, rest = url.partition("://")
    return ("postgresql" + sep + rest) if scheme.startswith("postgresql") else url


ANALYZE_AFTER = 1_000
"""Events an append must add before :meth:`EventStore.grew` looks at the table's statistics."""
STREAMS_PER_READ = 1_000
"""Streams named in one query of :meth:`EventStore.read_streams`."""
NUL = "\\u0000"  # how canonical JSON writes U+0000, which jsonb refuses


class EventStore:
    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[TupleRow]]) -> None:
        self._pool = pool
        self._person_keys: PersonKeys | None = None

    @classmethod
    async def connect(cls, url: str, *, max_size: int = 4, wait: float = 30.0) -> EventStore:
        """``wait``: how long a caller waits for a connection (and a new connection for the server) before
        ``PoolTimeout``; the API keeps it short, so an outage is answered at once rather than after 30 s."""
        pool: AsyncConnectionPool[AsyncConnection[TupleRow]] = AsyncConnectionPool(
            libpq_url(url),
            min_size=1,
            max_size=max_size,
            open=False,
            timeout=wait,
            kwargs={"connect_timeout": max(2, round(wait))},  # libpq's least
        )
        await pool.open(wait=True)
        return cls(pool)

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConnection[TupleRow]]:
        return self._pool

    async def close(self) -> None:
        await self._pool.close()

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
            await self.grew(result.count)
        return result

    async def grew(self, appended: int) -> None:
        """Bring the planner's statistics of ``events`` up to date after a bulk append that grew it by a tenth or
        more (call it once the append has committed).

        PostgreSQL's autovacuum does the same, but up to a minute later. Until then the planner takes the table
        for the size it last measured, for a new store empty: a second import straight after the first then read
        its 50,000 people's streams by sequential scans (71 s instead of 5 s). Small appends skip the check.
        """
        if appended < ANALYZE_AFTER:
            return
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'events'::regclass")
            row = await cur.fetchone()
            measured = -1.0 if row is None else float(row[0])
            if measured < 0 or appended >= measured * 0.1:  # -1: never measured
                await conn.execute("ANALYZE events")

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
        """:meth:`append` inside the caller's open transaction on ``conn``.

        For writes that must commit or fail together with the events, such as
        an outbox row changing state alongside the event that records it.
        """
        if count is None:
            if not isinstance(events, Sequence):
                raise ValueError("append needs a count when events is not a sequence")
            count = len(events)
        if count < 1:
            raise ValueError("append needs at least one event")
        if not idempotency_key:
            raise ValueError("append needs an idempotency key")
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
        earlier = await self._earlier_append(conn, idempotency_key, count)
        if earlier is not None:
            return earlier
        version = await self._stream_version(conn, stream_id)
        if expected_version is not None and expected_version != version:
            raise ExpectedVersionMismatch(stream_id, expected_version, version)
        chain = _Chain(await self._head(conn))
        first = chain.position + 1
        async with conn.cursor() as cur, cur.copy(f"COPY events ({COLUMNS}) FROM STDIN") as copy:
            for i, event in enumerate(events):
                version += 1
                await chain.write(copy, stream_id, version, event, f"{idempotency_key}#{i}", i)
                if on_progress is not None and (i + 1) % PROGRESS_EVERY == 0:
                    on_progress(i + 1)
                    await asyncio.sleep(0)  # let heartbeats and other tasks through
        if chain.position - first + 1 != count:
            raise ValueError(f"append was told {count} events but got {chain.position - first + 1}")
        return AppendResult(first, chain.position, version, duplicate=False)

    async def append_each(self, appends: Sequence[Append]) -> list[AppendResult]:
        """:meth:`append_each_in` in a transaction of its own, then the planner's statistics kept up (:meth:`grew`)."""
        async with self._pool.connection() as conn, conn.transaction():
            results = await self.append_each_in(conn, appends)
        await self.grew(sum(r.count for r in results if not r.duplicate))
        return results

    async def append_each_in(self, conn: AsyncConnection[TupleRow], appends: Sequence[Append]) -> list[AppendResult]:
        """Several appends, each under its own idempotency key, in the caller's open transaction.

        The same as :meth:`append_in` once per item, but with one lock, one
        look-up of earlier appends, one read of the head and one ``COPY``: many
        small appends (one event per delivered reminder) cost one round of each.
        """
        for a in appends:
            if not a.events or not a.idempotency_key:
                raise ValueError("each append needs an idempotency key and at least one event")
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
        keys = [k for a in appends for k in (f"{a.idempotency_key}#0", f"{a.idempotency_key}#{len(a.events) - 1}")]
        cur = await conn.execute(
            "SELECT position, stream_version, idempotency_key FROM events WHERE idempotency_key = ANY(%s)", (keys,)
        )
        found = {k: (p, v) for p, v, k in await cur.fetchall()}
        cur = await conn.execute(
            "SELECT s, (SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = s) "
            "FROM unnest(%s::text[]) AS s",
            (sorted({a.stream_id for a in appends}),),
        )
        versions: dict[str, int] = {s: int(v) for s, v in await cur.fetchall()}
        chain = _Chain(await self._head(conn))
        results: list[AppendResult] = []
        async with conn.cursor() as cur, cur.copy(f"COPY events ({COLUMNS}) FROM STDIN") as copy:
            for a in appends:
                earlier = _earlier(found, a.idempotency_key, len(a.events))
                if earlier is not None:
                    results.append(earlier)
                    continue
                if a.expected_version is not None and a.expected_version != versions[a.stream_id]:
                    raise ExpectedVersionMismatch(a.stream_id, a.expected_version, versions[a.stream_id])
                first = chain.position + 1
                for i, event in enumerate(a.events):
                    versions[a.stream_id] += 1
                    await chain.write(copy, a.stream_id, versions[a.stream_id], event, f"{a.idempotency_key}#{i}", i)
                results.append(AppendResult(first, chain.position, versions[a.stream_id], duplicate=False))
                # A key repeated within the call is an earlier append by the time it comes again.
                found[f"{a.idempotency_key}#0"] = (first, versions[a.stream_id] - len(a.events) + 1)
                found[f"{a.idempotency_key}#{len(a.events) - 1}"] = (chain.position, versions[a.stream_id])
        return results

    async def _earlier_append(self, conn: AsyncConnection[TupleRow], key: str, count: int) -> AppendResult | None:
        cur = await conn.execute(
            "SELECT position, stream_version, idempotency_key FROM events WHERE idempotency_key IN (%s, %s)",
            (f"{key}#0", f"{key}#{count - 1}"),
        )
        return _earlier({k: (p, v) for p, v, k in await cur.fetchall()}, key, count)

    async def recorded(self, idempotency_key: str) -> list[StoredEvent] | None:
        """The events appended earlier under ``idempotency_key``, or None if there were none.

        A batch occupies consecutive positions (appends are serialised), so it
        runs from its first event to the first later position with another key.
        """
        async with self._pool.connection() as conn:
            row = await (
                await conn.execute("SELECT position FROM events WHERE idempotency_key = %s", (f"{idempotency_key}#0",))
            ).fetchone()
            if row is None:
                return None
            first = int(row[0])
            cur = await conn.execute(
                "SELECT position FROM events WHERE position > %s AND NOT starts_with(idempotency_key, %s) "
                "ORDER BY position LIMIT 1",
                (first, f"{idempotency_key}#"),
            )
            after = await cur.fetchone()
            end = int(after[0]) if after else (await self._head(conn)).position + 1
            cur = await conn.execute(
                f"SELECT {COLUMNS} FROM events WHERE position >= %s AND position < %s ORDER BY position", (first, end)
            )
            return [_stored(r) for r in await cur.fetchall()]

    async def read_keyed(self, idempotency_keys: Sequence[str]) -> list[StoredEvent]:
        """The events stored under these exact keys (an append's keys end in ``#i``), in position order."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {COLUMNS} FROM events WHERE idempotency_key = ANY(%s) ORDER BY position",
                (list(idempotency_keys),),
            )
            return [_stored(r) for r in await cur.fetchall()]

    async def _head(self, conn: AsyncConnection[TupleRow]) -> HeadDigest:
        row = await (
            await conn.execute("SELECT position, hash, recorded_at FROM events ORDER BY position DESC LIMIT 1")
        ).fetchone()
        if row is None:
            return HeadDigest(0, GENESIS, None)
        return HeadDigest(int(row[0]), str(row[1]), row[2])

    async def copy_rows(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert rows exactly as given (restoring a bundle); their hashes are the caller's."""
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
            async with conn.cursor() as cur, cur.copy(f"COPY events ({COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    await copy.write_row(row)

    async def store_id(self) -> str:
        """This store's identity, set once when its schema was created."""
        async with self._pool.connection() as conn:
            row = await (await conn.execute("SELECT store_id::text FROM store_identity")).fetchone()
            if row is None:
                raise RuntimeError(phrase("the store has no identity row; run the migrations"))
            return str(row[0])

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
        async with self._pool.connection() as conn:
            row = await (await conn.execute("SELECT chain_format_since FROM store_identity")).fetchone()
            if row is None:
                raise RuntimeError(phrase("the store has no identity row; run the migrations"))
            return int(row[0])

    async def read_chain(self, after_position: int = 0) -> AsyncGenerator[list[ChainRow]]:
        """Every event after ``after_position`` in position order, as verification reads them, a batch at a time.

        The next batch is asked for before the current one is handed over, so the server reads it while the
        caller hashes."""
        sql = f"SELECT {CHAIN_COLUMNS} FROM events WHERE position > %s ORDER BY position LIMIT %s"

        async def page(after: int) -> list[ChainRow]:
            async with self._pool.connection() as conn:
                cur = await conn.execute(sql, (after, READ_BATCH))
                return [ChainRow._make(row) for row in await cur.fetchall()]

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
        columns = ", ".join("e." + c.strip() for c in CHAIN_COLUMNS.split(","))
        sql = (
            f"SELECT {columns}, b.hash FROM events e LEFT JOIN events b ON b.position = e.position - 1 "
            "WHERE e.stream_id = %(stream)s AND e.stream_version > %(after)s ORDER BY e.stream_version LIMIT %(limit)s"
        )
        async for row in self._pages(sql, {"stream": stream_id}, 0, 2):
            yield ChainRow._make(row[:-1]), row[-1]

    async def head(self) -> HeadDigest:
        async with self._pool.connection() as conn:
            return await self._head(conn)

    async def stream_version(self, stream_id: str) -> int:
        async with self._pool.connection() as conn:
            return await self._stream_version(conn, stream_id)

    @staticmethod
    async def _stream_version(conn: AsyncConnection[TupleRow], stream_id: str) -> int:
        cur = await conn.execute(
            "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = %s", (stream_id,)
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def read_stream(
        self, stream_id: str, after_version: int = 0, types: Sequence[str] | None = None
    ) -> AsyncIterator[StoredEvent]:
        """Events of one stream in version order (optionally of some types only), in batches."""
        type_filter = "" if types is None else "AND type = ANY(%(types)s) "
        sql = (
            f"SELECT {COLUMNS} FROM events WHERE stream_id = %(stream)s AND stream_version > %(after)s "
            f"{type_filter}ORDER BY stream_version LIMIT %(limit)s"
        )
        async for row in self._pages(sql, {"stream": stream_id, "types": list(types or ())}, after_version, 2):
            yield _stored(row)

    async def read_payloads(self, stream_id: str, types: Sequence[str]) -> AsyncIterator[EventPayload]:
        """Position, type and data of a stream's events of some types, in order: for folds."""
        sql = (
            "SELECT position, type, data, stream_version, schema_version FROM events WHERE stream_id = %(stream)s "
            "AND stream_version > %(after)s AND type = ANY(%(types)s) ORDER BY stream_version LIMIT %(limit)s"
        )
        async for position, kind, data, _, version in self._pages(
            sql, {"stream": stream_id, "types": list(types)}, 0, 3
        ):
            yield EventPayload(position, kind, data, version)

    async def read_streams(
        self, stream_ids: Sequence[str], types: Sequence[str] | None = None
    ) -> AsyncIterator[tuple[str, int, EventPayload]]:
        """(stream, the event's version, payload) of every event (of some types only) of many small streams, each
        stream in order: a file's people are read a thousand streams a query instead of one query per person.

        Each query names its streams and has no LIMIT: paging the whole set by position tempted the planner into
        walking the position index past millions of other streams' events (minutes, on a table whose statistics
        lagged its growth), where the (stream, version) index finds each stream's few events at once.
        """
        type_filter = "" if types is None else "AND type = ANY(%(types)s) "
        sql = (
            "SELECT position, type, data, stream_id, stream_version, schema_version FROM events "
            f"WHERE stream_id = ANY(%(streams)s) {type_filter}ORDER BY stream_id, stream_version"
        )
        streams = list(stream_ids)
        for start in range(0, len(streams), STREAMS_PER_READ):
            async with self._pool.connection() as conn:
                cur = await conn.execute(
                    sql, {"streams": streams[start : start + STREAMS_PER_READ], "types": list(types or ())}
                )
                rows = await cur.fetchall()
            for position, kind, data, stream_id, version, schema in rows:
                yield stream_id, int(version), EventPayload(position, kind, data, schema)

    async def stream_versions(self, stream_ids: Sequence[str]) -> dict[str, int]:
        """The version of each of many streams (absent: a stream with no events)."""
        streams, versions = list(stream_ids), {}
        for start in range(0, len(streams), STREAMS_PER_READ):
            async with self._pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT stream_id, max(stream_version) FROM events WHERE stream_id = ANY(%s) GROUP BY stream_id",
                    (streams[start : start + STREAMS_PER_READ],),
                )
                versions.update({stream_id: int(version) for stream_id, version in await cur.fetchall()})
        return versions

    async def _pages(
        self, sql: str, params: dict[str, Any], after: int, key_column: int
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Rows of ``sql`` page by page (``%(after)s``, ``%(limit)s``), keyed on column ``key_column``."""
        while True:
            async with self._pool.connection() as conn:
                cur = await conn.execute(sql, {**params, "after": after, "limit": READ_BATCH})
                rows = await cur.fetchall()
            for row in rows:
                yield row
            if len(rows) < READ_BATCH:
                return
            after = int(rows[-1][key_column])

    async def first_event(self, stream_id: str) -> StoredEvent | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {COLUMNS} FROM events WHERE stream_id = %s AND stream_version = 1", (stream_id,)
            )
            row = await cur.fetchone()
            return _stored(row) if row else None

    async def read_participant(self, stream_id: str, participant_id: str, until: datetime) -> list[StoredEvent]:
        """One participant's events in a stream, with the stream's own (no participant), up to ``until``."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {COLUMNS} FROM events WHERE stream_id = %s "
                "AND coalesce(data->>'participant_id', '') IN (%s, '') AND recorded_at <= %s "
                "ORDER BY stream_version",
                (stream_id, participant_id, until),
            )
            return [_stored(row) for row in await cur.fetchall()]

    async def read_participant_timeline(self, stream_id: str, participant_id: str) -> list[StoredEvent]:
        """A participant's own events in a stream, and the selections that name them, in order.

        Both halves are served by the participant index; the stream's other
        events (its start, with the whole programme) are never read or decoded.
        """
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {COLUMNS} FROM events WHERE stream_id = %(s)s "
                "AND coalesce(data->>'participant_id', '') = %(p)s "
                f"UNION ALL SELECT {COLUMNS} FROM events WHERE stream_id = %(s)s "
                "AND coalesce(data->>'participant_id', '') = '' AND type = 'SelectionDecided' "
                "AND ((data->'selected')::jsonb ? %(p)s OR (data->'waiting_list')::jsonb ? %(p)s) "
                "ORDER BY stream_version",
                {"s": stream_id, "p": participant_id},
            )
            return [_stored(row) for row in await cur.fetchall()]

    async def read_all(self, after_position: int = 0, limit: int | None = None) -> AsyncIterator[StoredEvent]:
        """Every event after ``after_position`` in position (= commit) order."""
        remaining = limit
        # The events of a batch share their metadata: decode each distinct one once.
        metadata: dict[str, dict[str, Any]] = {}
        while remaining is None or remaining > 0:
            batch = READ_BATCH if remaining is None else min(READ_BATCH, remaining)
            async with self._pool.connection() as conn:
                cur = await conn.execute(
                    f"SELECT {COLUMNS.replace('metadata', 'metadata::text')} FROM events "
                    "WHERE position > %s ORDER BY position LIMIT %s",
                    (after_position, batch),
                )
                rows = await cur.fetchall()
            if len(metadata) > 10_000:
                metadata.clear()
            for row in rows:
                text = row[6]
                known = metadata.get(text)
                if known is None:
                    known = metadata[text] = json.loads(text)
                yield _stored((*row[:6], known, *row[7:]))
            if remaining is not None:
                remaining -= len(rows)
            if len(rows) < batch:
                return
            after_position = int(rows[-1][0])


async def _person_keys(conn: AsyncConnection[TupleRow]) -> PersonKeys:
    row = await (await conn.execute("SELECT person_key_secret FROM store_identity")).fetchone()
    if row is None:
        raise RuntimeError(phrase("the store has no identity row; run the migrations"))
    return PersonKeys(None if row[0] is None else bytes(row[0]))


def _stored(row: tuple[Any, ...]) -> StoredEvent:
    return StoredEvent(
        position=int(row[0]),
        stream_id=row[1],
        stream_version=int(row[2]),
        type=row[3],
        schema_version=int(row[4]),
        data=row[5],
        metadata=row[6],
        recorded_at=row[7],
        idempotency_key=row[8],
        prev_hash=row[9],
        hash=row[10],
    )


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
    """Rows going into ``COPY events``, each hashed onto the one before it."""

    def __init__(self, head: HeadDigest) -> None:
        self.position, self.prev = head.position, head.hash
        self.recorded_at = datetime.now(UTC)
        self.recorded_text = timestamp_text(self.recorded_at)
        self._metadata: dict[str, Any] | None = None
        self._metadata_json = ""

    async def write(self, copy: AsyncCopy, stream_id: str, version: int, event: NewEvent, key: str, i: int) -> None:
        self.position += 1
        data_json = canonical_json(event.data)
        if NUL in data_json:
            raise UnstorableText(
                phrase("event {i} ({type}) contains U+0000, which PostgreSQL cannot store", i=i, type=event.type)
            )
        if event.metadata is not self._metadata:  # a batch usually shares one metadata dict
            self._metadata, self._metadata_json = event.metadata, canonical_json(event.metadata)
        record = record_bytes(
            position=self.position,
            stream_id=stream_id,
            stream_version=version,
            type=event.type,
            schema_version=event.schema_version,
            data_json=data_json,
            metadata_json=self._metadata_json,
            recorded_at=self.recorded_text,
            idempotency_key=key,
        )
        digest = chain_hash(self.prev, record)
        await copy.write_row(
            (
                self.position,
                stream_id,
                version,
                event.type,
                event.schema_version,
                data_json,
                self._metadata_json,
                self.recorded_at,
                key,
                self.prev,
                digest,
            )
        )
        self.prev = digest
