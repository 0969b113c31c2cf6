"""Credit ledger (学时账本): every hour names the events that earned it.

Entries are never edited. A correction is a reversing entry that cancels an
earlier one, so the history of a person's credits stays complete.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from cohortflow.domain.events import CreditAwarded, CreditReversed


class LedgerError(ValueError):
    """A correction that the ledger refuses."""


@dataclass(frozen=True)
class Entry:
    entry_id: str
    person_key: str
    participant_id: str
    hours: float
    level: str
    phase: str
    earned_by: tuple[int, ...]
    reverses: str | None = None
    reason: str = ""


class Ledger:
    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._entries: list[Entry] = []
        self._by_id: dict[str, Entry] = {}
        self._reversed: set[str] = set()
        for entry in entries:
            self._add(entry)

    @classmethod
    def from_events(cls, events: Iterable[CreditAwarded | CreditReversed]) -> Ledger:
        return cls(entry_from_event(e) for e in events)

    def _add(self, entry: Entry) -> None:
        if entry.entry_id in self._by_id:
            raise LedgerError(f"entry {entry.entry_id} is already in the ledger")
        if entry.reverses is not None:
            original = self._check_reversible(entry.reverses)
            # A reversal counts against the level and phase of the entry it cancels.
            entry = dataclasses.replace(entry, level=original.level, phase=original.phase)
            self._reversed.add(original.entry_id)
        self._entries.append(entry)
        self._by_id[entry.entry_id] = entry

    def _check_reversible(self, entry_id: str) -> Entry:
        original = self._by_id.get(entry_id)
        if original is None:
            raise LedgerError(f"cannot reverse {entry_id}: no such entry")
        if original.reverses is not None:
            raise LedgerError(f"cannot reverse {entry_id}: it is itself a reversal")
        if entry_id in self._reversed:
            raise LedgerError(f"cannot reverse {entry_id}: it was already reversed")
        return original

    def reverse(self, entry_id: str, reason: str, new_entry_id: str) -> CreditReversed:
        """Decide a reversing entry for ``entry_id``; the caller records the event."""
        if not reason.strip():
            raise LedgerError("a reversal needs a reason")
        original = self._check_reversible(entry_id)
        if new_entry_id in self._by_id:
            raise LedgerError(f"entry id {new_entry_id} is already in the ledger")
        return CreditReversed(
            entry_id=new_entry_id,
            reverses=entry_id,
            participant_id=original.participant_id,
            person_key=original.person_key,
            hours=-original.hours,
            reason=reason,
        )

    def record(self, event: CreditAwarded | CreditReversed) -> None:
        self._add(entry_from_event(event))

    @property
    def entries(self) -> tuple[Entry, ...]:
        return tuple(self._entries)

    def total(self, person_key: str) -> float:
        return round(sum(e.hours for e in self._entries if e.person_key == person_key), 6)

    def total_by_level(self, person_key: str) -> dict[str, float]:
        totals: dict[str, float] = {}
        for e in self._entries:
            if e.person_key == person_key:
                totals[e.level] = round(totals.get(e.level, 0.0) + e.hours, 6)
        return totals

    def grand_total(self) -> float:
        return round(sum(e.hours for e in self._entries), 6)


def entry_from_event(event: CreditAwarded | CreditReversed) -> Entry:
    if isinstance(event, CreditAwarded):
        return Entry(
            entry_id=event.entry_id,
            person_key=event.person_key,
            participant_id=event.participant_id,
            hours=event.hours,
            level=event.level,
            phase=event.phase,
            earned_by=tuple(event.earned_by),
        )
    return Entry(
        entry_id=event.entry_id,
        person_key=event.person_key,
        participant_id=event.participant_id,
        hours=event.hours,
        level="",
        phase="",
        earned_by=(),
        reverses=event.reverses,
        reason=event.reason,
    )
