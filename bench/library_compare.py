"""(d) cohortflow's store against the `eventsourcing` library, the two sides taking turns.

The machine is shared: a checkpoint, an autovacuum of the tables the parts before
this one filled, or another job can slow whichever side runs at that moment.
Run one side whole and then the other, and the ratio between them moved from 7×
to 11× between two runs of the same code. So the sides alternate: each batch of
events is appended by both, in the order store, library, library, store, … (:mod:`bench.turns`; a
slow moment lands on both alike), and each side replays the whole log twice in
the same order. A rate is a side's events over its own timed seconds; each timed
call starts after a garbage collection (:mod:`bench.settle`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from bench.append import StoreSide, StoreThroughput
from bench.events import batches
from bench.eventsourcing_lib import LibrarySide, LibraryThroughput
from bench.turns import in_turn

REPLAYS = 2
T = TypeVar("T")


@dataclass(frozen=True)
class Comparison:
    store: StoreThroughput
    library: LibraryThroughput


async def compare(
    store_url: str, server_url: str, total: int, batch_size: int, say: Callable[[str], None]
) -> Comparison:
    """Append ``total`` events in batches of ``batch_size`` through the store (a migrated database at
    ``store_url``) and through the library (its own database on the server of ``server_url``), turn about,
    then replay each side's log ``REPLAYS`` times, turn about."""
    loop = asyncio.get_running_loop()
    # The library's calls block; they all run on one thread of their own, the event loop stays free.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="eventsourcing") as library_thread:

        def on_library(call: Callable[..., T], *args: object) -> Awaitable[T]:
            return loop.run_in_executor(library_thread, call, *args)

        store = await StoreSide.open(store_url)
        library = await on_library(LibrarySide, server_url)
        try:
            store_append = library_append = 0.0
            for n, (first, count) in enumerate(batches(total, batch_size)):
                store_took, library_took = await in_turn(
                    n, partial(store.append, first, count), partial(on_library, library.append, first, count)
                )
                store_append += store_took
                library_append += library_took
                say(f"  (d) {first + count - 1:,}/{total:,} events appended by each side")
            store_replay = library_replay = 0.0
            for n in range(REPLAYS):
                store_took, library_took = await in_turn(
                    n, partial(store.replay, total), partial(on_library, library.replay, total)
                )
                store_replay += store_took
                library_replay += library_took
            reconstruct = await on_library(library.reconstruct, total)
            return Comparison(
                StoreThroughput(total, store_append, store_replay / REPLAYS),
                LibraryThroughput(total, library.saves, library_append, library_replay / REPLAYS, reconstruct),
            )
        finally:
            await store.close()
            await on_library(library.close)
