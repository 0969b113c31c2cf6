"""Audit bundles: a cohort's (or the whole store's) events as JSON Lines, with
the programme versions they ran under and the chain digest, checkable offline
by ``standalone_verifier.py``. A cohort's bundle holds its completion
certificates too (each in a stream of its own), in position order among the
cohort's events, so that a certificate's code can be checked offline.

An event line holds its data and metadata as JSON values, which re-encode to the
canonical text its hash covers whichever chain format the store kept them in
(:mod:`cohortflow.store.chain`): the text is canonical JSON, and canonical JSON
decoded and encoded again is the same text. So bundles written before and after
chain format 2 are the same format and are checked by the same rules offline.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from cohortflow.certificates.lookup import cohort_certificates
from cohortflow.domain.canonical import canonical_json
from cohortflow.domain.canonical import digest as canonical_digest
from cohortflow.domain.cohort_stream import cohort_stream
from cohortflow.domain.phrases import phrase
from cohortflow.store.chain import timestamp_text
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import StoredEvent

FORMAT = 1


class BundleSummary(BaseModel):
    path: str
    scope: str
    events: int
    programmes: int
    head_position: int
    head_hash: str


def event_line(event: StoredEvent) -> dict[str, Any]:
    return {
        "kind": "event",
        "position": event.position,
        "stream_id": event.stream_id,
        "stream_version": event.stream_version,
        "type": event.type,
        "schema_version": event.schema_version,
        "data": event.data,
        "metadata": event.metadata,
        "recorded_at": timestamp_text(event.recorded_at),
        "idempotency_key": event.idempotency_key,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


async def write_bundle(store: EventStore, out: Path, now: datetime, cohort_id: str | None = None) -> BundleSummary:
    """Stream the bundle to ``out`` (written to a temporary name, renamed when complete)."""
    head = await store.head()
    events: AsyncIterator[StoredEvent] = (
        store.read_all(limit=head.position)
        if cohort_id is None
        else _with_certificates(
            store.read_stream(cohort_stream(cohort_id)), await cohort_certificates(store, cohort_id)
        )
    )
    header = {
        "kind": "cohortflow-audit-bundle",
        "format": FORMAT,
        "scope": "all" if cohort_id is None else "cohort",
        "cohort_id": cohort_id,
        "store_id": await store.store_id(),
        "exported_at": timestamp_text(now),
    }
    programmes: dict[tuple[str, int], dict[str, Any]] = {}
    count = 0
    partial = out.with_name(out.name + ".partial")
    with partial.open("w", encoding="utf-8") as f:
        f.write(json.dumps(header, ensure_ascii=False) + "\n")
        async for event in events:
            if event.position > head.position:
                break  # appended after the export began: the digest below does not cover it
            count += 1
            f.write(json.dumps(event_line(event), ensure_ascii=False) + "\n")
            if event.type == "CohortStarted":
                template = event.data["programme"]
                programmes[(template["id"], template["version"])] = template
        if count == 0 and cohort_id is not None:
            partial.unlink()
            raise LookupError(phrase("cohort {cohort_id} does not exist", cohort_id=cohort_id))
        for (pid, version), template in sorted(programmes.items()):
            line = {"kind": "programme", "id": pid, "version": version, "digest": canonical_digest(template)}
            f.write(json.dumps({**line, "template": template}, ensure_ascii=False) + "\n")
        trailer = {
            "kind": "digest",
            "store_id": header["store_id"],
            "position": head.position,
            "hash": head.hash,
            "events": count,
        }
        f.write(json.dumps(trailer) + "\n")
    partial.replace(out)
    return BundleSummary(
        path=str(out),
        scope=str(header["scope"]),
        events=count,
        programmes=len(programmes),
        head_position=head.position,
        head_hash=head.hash,
    )


async def _with_certificates(
    events: AsyncIterator[StoredEvent], certificates: list[StoredEvent]
) -> AsyncIterator[StoredEvent]:
    """The cohort's events with its certificates between them, all in position order (as the verifier checks)."""
    pending = iter(certificates)
    waiting = next(pending, None)
    async for event in events:
        while waiting is not None and waiting.position < event.position:
            yield waiting
            waiting = next(pending, None)
        yield event
    while waiting is not None:
        yield waiting
        waiting = next(pending, None)


def read_bundle_events(path: Path) -> list[dict[str, Any]]:
    """The event lines of a bundle, as written."""
    with path.open(encoding="utf-8") as f:
        return [item for item in map(json.loads, f) if item["kind"] == "event"]


async def restore_bundle(store: EventStore, path: Path) -> int:
    """Load a bundle's events, exactly as recorded, into an empty store (to audit it elsewhere)."""
    if (await store.head()).position != 0:
        raise ValueError(phrase("a bundle can only be restored into an empty store"))
    rows = [
        (
            e["position"],
            e["stream_id"],
            e["stream_version"],
            e["type"],
            e["schema_version"],
            canonical_json(e["data"]),  # stored as the bytes hashed (chain format 2), as an append stores them
            canonical_json(e["metadata"]),
            datetime.fromisoformat(e["recorded_at"]),
            e["idempotency_key"],
            e["prev_hash"],
            e["hash"],
        )
        for e in read_bundle_events(path)
    ]
    await store.copy_rows(rows)
    return len(rows)
