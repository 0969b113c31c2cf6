"""Failed sign-ins counted per client address, and the addresses refused for a while because of them.

A client address that fails ``limit`` times within ``window`` seconds is refused
(the API answers 429 with ``Retry-After``) until the oldest of those failures is
``window`` seconds old; while it is refused its requests are not looked up at all,
so they cannot add failures either. That lets an address guess at most ``limit``
tokens per window. A successful sign-in resets nothing: counts belong to an
address, and an address holding one valid token must not be able to clear the
count of its own guesses, let alone another address's.

The counts live in this process, not in a shared store or a rate-limiting library
(``limits`` was considered): the API runs as one process, so its memory sees every
request, and what is kept here beyond counting (a lockout announced once, bounded
memory under many addresses) would be ours to write around a library anyway. An
API scaled out to several processes would need the counts in PostgreSQL or Redis.
Pure: the caller passes ``now`` (monotonic seconds), so tests need no clock.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

PRUNE_AT = 10_000
"""Addresses tracked before those with no failure left in the window are forgotten."""


@dataclass
class _Address:
    failures: deque[float]  # the most recent ``limit`` failures, oldest first
    announced: bool = False  # the current lockout has been logged


@dataclass
class SignInLimiter:
    """Failed sign-ins per client address; an address with ``limit`` of them in ``window`` seconds is refused."""

    limit: int
    window: float
    _addresses: dict[str, _Address] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window <= 0:
            raise ValueError(f"a sign-in limit needs at least one failure per positive window, not {self}")

    def retry_after(self, address: str, now: float) -> int | None:
        """Whole seconds until ``address`` may sign in again, or None if it may now."""
        entry = self._addresses.get(address)
        if entry is None or len(entry.failures) < self.limit:
            return None
        left = entry.failures[0] + self.window - now
        return max(1, math.ceil(left)) if left > 0 else None

    def announce(self, address: str) -> bool:
        """True the first time this is asked during an address's lockout: its refusal is to be logged once."""
        entry = self._addresses[address]
        first, entry.announced = not entry.announced, True
        return first

    def failed(self, address: str, now: float) -> int:
        """Count a failed sign-in from ``address``; returns its failures within the window, this one included."""
        entry = self._addresses.get(address)
        if entry is None:
            if len(self._addresses) >= PRUNE_AT:
                self._forget_quiet(now)
            entry = self._addresses[address] = _Address(deque(maxlen=self.limit))
        entry.failures.append(now)
        entry.announced = False  # a new failure can only come after a lockout ended: the next one is news
        return sum(1 for when in entry.failures if now - when < self.window)

    def _forget_quiet(self, now: float) -> None:
        quiet = [a for a, e in self._addresses.items() if not e.failures or now - e.failures[-1] >= self.window]
        for address in quiet:
            del self._addresses[address]
