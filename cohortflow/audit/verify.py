"""Chain verification for auditors: where the history breaks, and how.

Kinds of break:
- ``changed``: an event's content no longer matches its hash;
- ``reordered``: an event sits at a position other than the one it was hashed at;
- ``missing``: positions (or a stream's versions) jump: events were removed;
- ``relinked``: an event's link to the one before it is wrong though both look intact;
- ``truncated``: the store ends before a digest exported earlier;
- ``rewritten``: the event at the digest's position is not the one the digest names
  (a history rebuilt with a fresh, self-consistent chain).

Events are checked by the rules of the chain format they were written in (see
:mod:`cohortflow.store.chain`): from the store's ``chain_format_since`` on, the stored
JSON text is hashed as it is; before it, the JSON is decoded and re-encoded. A
report says how many events were checked the older way.
"""

from __future__ import annotations

from contextlib import aclosing
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from cohortflow.domain.cohort_stream import cohort_stream
from cohortflow.domain.phrases import phrase
from cohortflow.store.chain import GENESIS, ChainRow, Rehasher
from cohortflow.store.eventstore import EventStore

BreakKind = Literal["changed", "reordered", "missing", "relinked", "truncated", "rewritten"]
REORDER_WINDOW = 64
MAX_BREAKS = 100


class ExportedDigest(BaseModel):
    """What `cohortflow audit digest` exports, to be kept outside the database."""

    store_id: str
    position: int
    hash: str
    recorded_at: datetime | None
    exported_at: datetime


class Break(BaseModel):
    position: int
    kind: BreakKind
    detail: str


class ChainReport(BaseModel):
    scope: str
    store_id: str
    checked: int
    head_position: int
    head_hash: str
    breaks: list[Break]
    chain_format_since: int = 1
    """The store's first position in chain format 2 (its JSON stored as the bytes hashed)."""
    re_encoded: int = 0
    """Events checked by the format 1 rules (written before ``chain_format_since``: JSON decoded and re-encoded)."""

    @property
    def rules(self) -> str:
        """Which rules the events were checked by, as a person reads it."""
        if self.re_encoded == 0:
            return phrase("every event was checked by chain format 2: its stored bytes hashed as they are")
        return phrase(
            "{count} events written before position {since} were checked by chain format 1 (their JSON decoded "
            "and re-encoded), the rest by chain format 2 (their stored bytes hashed as they are)",
            count=self.re_encoded,
            since=self.chain_format_since,
        )

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first_break(self) -> Break | None:
        return self.breaks[0] if self.breaks else None


class ForeignDigest(ValueError):
    """A digest exported from another store."""


def _content_break(row: ChainRow, rehasher: Rehasher) -> Break:
    """Why ``row``, which does not hash to its hash at its position, broke: it was moved, or it was changed."""
    for shift in range(1, REORDER_WINDOW + 1):
        for other in (row.position - shift, row.position + shift):
            if other > 0 and rehasher.matches_at(row, other):
                return Break(
                    position=row.position,
                    kind="reordered",
                    detail=phrase(
                        "the event at position {position} was recorded at position {other}",
                        position=row.position,
                        other=other,
                    ),
                )
    return Break(position=row.position, kind="changed", detail=phrase("content does not match its hash"))


async def verify_store(
    store: EventStore, digest: ExportedDigest | None = None, until: int | None = None
) -> ChainReport:
    """Recompute the whole chain, position by position, and compare with ``digest``; with ``until``, only as far as
    that position (what an event there rests on)."""
    store_id = await _check_identity(store, digest)
    breaks: list[Break] = []
    prev_hash, expected, checked = GENESIS, 1, 0
    previous_broken = False  # after a broken event its successor's link proves nothing more
    rehasher = Rehasher(await store.chain_format_since())
    async with aclosing(store.read_chain()) as batches:
        async for rows in batches:
            for event in rows:
                position = event.position  # named once: this loop runs once per event stored
                if (until is not None and position > until) or len(breaks) >= MAX_BREAKS:
                    break
                checked += 1
                gap = position != expected
                if gap:
                    breaks.append(
                        Break(
                            position=expected,
                            kind="missing",
                            detail=phrase("positions {first}..{last} are missing", first=expected, last=position - 1),
                        )
                    )
                content = None if rehasher.matches(event) else _content_break(event, rehasher)
                if content:
                    breaks.append(content)
                elif not gap and not previous_broken and event.prev_hash != prev_hash:
                    breaks.append(
                        Break(
                            position=position,
                            kind="relinked",
                            detail=phrase("does not link to the event before it"),
                        )
                    )
                previous_broken = content is not None
                prev_hash, expected = event.hash, position + 1
                if digest and position == digest.position and prev_hash != digest.hash:
                    breaks.append(
                        Break(
                            position=position,
                            kind="rewritten",
                            detail=phrase("this is not the event the exported digest names: the history was rewritten"),
                        )
                    )
            else:
                continue
            break  # the inner loop stopped early: so does the read
    head = (expected - 1, prev_hash)  # the last event checked
    if digest and until is None and head[0] < digest.position:
        breaks.append(
            Break(
                position=head[0] + 1,
                kind="truncated",
                detail=phrase(
                    "the store ends at position {head}, before the exported digest's {position}",
                    head=head[0],
                    position=digest.position,
                ),
            )
        )
    breaks.sort(key=lambda b: b.position)
    return ChainReport(
        scope="all" if until is None else f"positions 1 to {until}",
        store_id=store_id,
        checked=checked,
        head_position=head[0],
        head_hash=head[1],
        breaks=breaks,
        chain_format_since=rehasher.since,
        re_encoded=rehasher.re_encoded,
    )


async def verify_cohort(store: EventStore, cohort_id: str, digest: ExportedDigest | None = None) -> ChainReport:
    """Check one cohort's events: their content, their links, and that none is missing."""
    store_id = await _check_identity(store, digest)
    stream = cohort_stream(cohort_id)
    breaks: list[Break] = []
    version, checked, head = 0, 0, (0, GENESIS)
    rehasher = Rehasher(await store.chain_format_since())
    async for event, before in store.read_cohort_chain(stream):
        checked += 1
        if event.stream_version != version + 1:
            breaks.append(
                Break(
                    position=event.position,
                    kind="missing",
                    detail=phrase(
                        "{stream} jumps from version {version} to {next}",
                        stream=stream,
                        version=version,
                        next=event.stream_version,
                    ),
                )
            )
        content = None if rehasher.matches(event) else _content_break(event, rehasher)
        if content:
            breaks.append(content)
        elif event.prev_hash != (before if event.position > 1 else GENESIS):
            breaks.append(
                Break(position=event.position, kind="relinked", detail=phrase("does not link to the event before it"))
            )
        version, head = event.stream_version, (event.position, event.hash)
        if len(breaks) >= MAX_BREAKS:
            break
    if checked == 0:
        raise LookupError(phrase("cohort {cohort_id} does not exist", cohort_id=cohort_id))
    return ChainReport(
        scope=f"cohort {cohort_id}",
        store_id=store_id,
        checked=checked,
        head_position=head[0],
        head_hash=head[1],
        breaks=breaks,
        chain_format_since=rehasher.since,
        re_encoded=rehasher.re_encoded,
    )


async def export_digest(store: EventStore, now: datetime) -> ExportedDigest:
    head = await store.head()
    return ExportedDigest(
        store_id=await store.store_id(),
        position=head.position,
        hash=head.hash,
        recorded_at=head.recorded_at,
        exported_at=now,
    )


async def _check_identity(store: EventStore, digest: ExportedDigest | None) -> str:
    store_id = await store.store_id()
    if digest is not None and digest.store_id != store_id:
        raise ForeignDigest(
            phrase(
                "the digest was exported from store {digest_store}; this is store {store_id}",
                digest_store=digest.store_id,
                store_id=store_id,
            )
        )
    return store_id
