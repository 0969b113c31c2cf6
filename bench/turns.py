"""Two sides timed in turns: which goes first alternates, so neither always runs on a machine the other warmed.

Caches, the server's buffers and the CPU's clock all carry over from one timed call to the next; a side that
always went second would always inherit them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

Timed = Callable[[], Awaitable[float]]
"""One timed call of a side; it answers its seconds."""


async def in_turn(turn: int, one: Timed, other: Timed) -> tuple[float, float]:
    """Run both sides once, ``one`` first on even turns and ``other`` first on odd ones; their seconds, in the order
    given."""
    if turn % 2 == 0:
        first = await one()
        return first, await other()
    second = await other()
    return await one(), second
