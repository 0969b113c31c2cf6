"""The hash chain over the global event log.

Each event's hash is SHA-256 over the previous event's hash and the event's
canonical record bytes, so changing, removing or reordering any event breaks
every hash after it. The record format is deliberately plain (fields joined by
the ASCII unit separator, which canonical JSON always escapes) so that a
verifier needing only the standard library can recompute it.

Chain formats say where a verifier finds the record's JSON; the record hashed is
the same in both. Format 1 stored ``data`` and ``metadata`` as JSONB, which keeps
neither key order nor spelling, so the canonical text had to be made again by
decoding and re-encoding. Format 2 stores them as ``json``, byte for byte the
canonical text that was hashed, so verification joins stored text and hashes it:
no JSON is decoded. The trade: one form of the JSON instead of two, so nothing can
drift between a hashed text and a queried value, at the cost of ``->>`` parsing
the text where JSONB looked the key up (the participant index computes it once per
append) and of ``?`` needing a cast. A store says in its identity from which
position on it holds format 2 (``chain_format_since``); events before it, written
by an earlier version, are verified by the format 1 rules.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import asyncpg

from cohortflow.domain.canonical import canonical_json

GENESIS = "0" * 64
_SEP = "\x1f"


def timestamp_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def record_bytes(
    position: int,
    stream_id: str,
    stream_version: int,
    type: str,
    schema_version: int,
    data_json: str,
    metadata_json: str,
    recorded_at: str,
    idempotency_key: str,
) -> bytes:
    """The bytes an event's hash covers. The fields come in the order of the ``events`` table's columns; the hot
    loops (appending, verifying) pass them by position, which costs less than by name. ``recorded_at`` as
    :func:`timestamp_text` writes it (computed once per batch by appends)."""
    return (
        f"{position}{_SEP}{stream_id}{_SEP}{stream_version}{_SEP}{type}{_SEP}{schema_version}{_SEP}"
        f"{data_json}{_SEP}{metadata_json}{_SEP}{recorded_at}{_SEP}{idempotency_key}"
    ).encode()


def chain_hash(prev_hash: str, record: bytes) -> str:
    """An event's hash (hex, as stored) from the hash of the event before it and its record bytes."""
    return chained(bytes.fromhex(prev_hash), record).hex()


def chained(prev_digest: bytes, record: bytes) -> bytes:
    """:func:`chain_hash` on the 32 bytes of each hash: an append carries its chain this way and turns each hash
    into hex once, for its row."""
    return hashlib.sha256(prev_digest + record).digest()


def _column(index: int) -> Any:
    return property(itemgetter(index))


class ChainRow(asyncpg.Record):
    """An event as verification reads it, its JSON as the text stored.

    The row is the one asyncpg makes (``record_class``), with its columns named: no Python object is built per
    event read, which was a sixth of verification's time. The columns are those of ``events``, in table order.
    """

    position: int = _column(0)
    stream_id: str = _column(1)
    stream_version: int = _column(2)
    type: str = _column(3)
    schema_version: int = _column(4)
    data_json: str = _column(5)
    metadata_json: str = _column(6)
    recorded_at: datetime = _column(7)
    idempotency_key: str = _column(8)
    prev_hash: str = _column(9)
    hash: str = _column(10)


def _re_encoded(text: str) -> str | None:
    """``text`` decoded and written canonically; None for text no event could have been written as (tampered
    text PostgreSQL's json accepts but canonical JSON cannot hold, such as ``1e999`` or very deep nesting)."""
    try:
        return canonical_json(json.loads(text))
    except (ValueError, RecursionError):
        return None


class Rehasher:
    """Recomputes stored events' hashes by the rules of the format each was written in.

    Events of a batch share their timestamp and metadata, so each distinct one is
    converted once; the caches are emptied when they grow past a batch's worth.
    """

    def __init__(self, chain_format_since: int) -> None:
        self.since = chain_format_since
        self.re_encoded = 0
        """Events hashed by the format 1 rules so far."""
        self._times: dict[datetime, str] = {}
        self._metadata: dict[str, str | None] = {}

    def matches(self, row: ChainRow) -> bool:
        """Whether ``row`` hashes to its hash at its own position."""
        # Unpacked once: this runs for every event verified, and a named column costs a lookup each time. (A row
        # of a cohort's chain carries one more column after these: the hash of the event before it.)
        position, stream_id, version, kind, schema, data, metadata, recorded_at, key, prev, digest, *_ = row
        if position < self.since:
            self.re_encoded += 1
            return self._rehashed_at(row, position)
        record = record_bytes(
            position, stream_id, version, kind, schema, data, metadata, self._timestamp(recorded_at), key
        )  # format 2: the JSON as stored
        matched: bool = chain_hash(prev, record) == digest
        return matched

    def matches_at(self, row: ChainRow, position: int) -> bool:
        """Whether ``row`` was hashed at ``position`` (it was moved). Decoded and re-encoded whatever its format
        (canonical text re-encodes to itself), since a moved event may have crossed from one format to the other."""
        return self._rehashed_at(row, position)

    def _rehashed_at(self, row: ChainRow, position: int) -> bool:
        data, metadata = _re_encoded(row.data_json), self._canonical(row.metadata_json)
        if data is None or metadata is None:
            return False
        record = record_bytes(
            position,
            row.stream_id,
            row.stream_version,
            row.type,
            row.schema_version,
            data,
            metadata,
            self._timestamp(row.recorded_at),
            row.idempotency_key,
        )
        return chain_hash(row.prev_hash, record) == row.hash

    def _canonical(self, metadata: str) -> str | None:
        if metadata not in self._metadata:
            if len(self._metadata) > 10_000:
                self._metadata.clear()
            self._metadata[metadata] = _re_encoded(metadata)
        return self._metadata[metadata]

    def _timestamp(self, moment: datetime) -> str:
        text = self._times.get(moment)
        if text is None:
            if len(self._times) > 10_000:
                self._times.clear()
            text = self._times[moment] = timestamp_text(moment)
        return text
