"""bench.turns: two timed sides alternate which goes first, and each keeps its own seconds."""

from __future__ import annotations

from bench.turns import Timed, in_turn


async def test_the_sides_alternate_which_goes_first_and_answer_in_the_order_given() -> None:
    ran: list[str] = []

    def side(name: str, seconds: float) -> Timed:
        async def timed() -> float:
            ran.append(name)
            return seconds

        return timed

    assert await in_turn(0, side("one", 1.0), side("other", 2.0)) == (1.0, 2.0)
    assert await in_turn(1, side("one", 1.0), side("other", 2.0)) == (1.0, 2.0)
    assert ran == ["one", "other", "other", "one"]
