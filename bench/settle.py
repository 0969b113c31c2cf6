"""Each timed call of a side-by-side comparison starts with no garbage collection owed.

A benchmark makes each side's input (events, precomputed rows) just before timing it, and those objects
survive into the collector's older generations. The collection they owe then runs inside whichever timed call
next allocates enough to set one off: with the sides alternating, mostly the side that allocates more per row,
which then pays for what the benchmark made ready for both. Collecting just before each timed call leaves every
side paying for the collections of what it allocates itself, as a real caller would, and nothing else.
"""

from __future__ import annotations

import gc
import time


def settle_garbage() -> None:
    """Collect every generation now, outside the timed call that follows."""
    gc.collect()


def start_clock() -> float:
    """:func:`settle_garbage`, then the ``time.perf_counter`` reading a timed call starts from."""
    settle_garbage()
    return time.perf_counter()
