"""Where a nominee's place is counted: a prefecture's quota, or a prefecture's quota within a track.

The seven-phase form has one quota per prefecture; a block template has quotas
per track, and per prefecture within a track where it lists them. Nomination
asks for a seat and counts it, whichever form the programme has.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from cohortflow.domain.phrases import phrase
from cohortflow.domain.programme import Programme
from cohortflow.domain.template import ProgrammeTemplate


@dataclass(frozen=True)
class Seat:
    key: str
    """What the quota counts: a prefecture, a track, or a prefecture in a track."""
    quota: int
    label: str
    prefecture_code: str
    track: str | None = None


@dataclass(frozen=True)
class NoSeat:
    column: Literal["track", "prefecture_code"]
    reason: str

    def problem(self, where: str) -> str:
        """The problem of the row ``where`` (a phrase naming it): the column and the reason."""
        if self.column == "track":
            return phrase("{where}, track: {reason}", where=where, reason=self.reason)
        return phrase("{where}, prefecture_code: {reason}", where=where, reason=self.reason)


def not_a_prefecture(prefecture_code: str) -> str:
    return phrase("{prefecture} is not a prefecture of this programme", prefecture=repr(prefecture_code))


class Quotas(Protocol):
    def seat(self, prefecture_code: str, track: str) -> Seat | NoSeat: ...

    def key(self, prefecture_code: str, track: str | None) -> str: ...


@dataclass(frozen=True)
class PrefectureQuotas:
    programme: Programme

    def seat(self, prefecture_code: str, track: str) -> Seat | NoSeat:
        pref = self.programme.prefecture(prefecture_code)
        if pref is None:
            return NoSeat("prefecture_code", not_a_prefecture(prefecture_code))
        return Seat(pref.code, pref.quota, f"{pref.code} ({pref.name})", pref.code)

    def key(self, prefecture_code: str, track: str | None) -> str:
        return prefecture_code


@dataclass(frozen=True)
class TrackQuotas:
    template: ProgrammeTemplate

    def seat(self, prefecture_code: str, track: str) -> Seat | NoSeat:
        tracks = self.template.tracks
        codes = ", ".join(t.code for t in tracks)
        if not track and len(tracks) > 1:
            return NoSeat("track", phrase("is empty; this programme has tracks {codes}", codes=codes))
        found = tracks[0] if not track else next((t for t in tracks if t.code == track), None)
        if found is None:
            return NoSeat(
                "track", phrase("{track} is not a track of this programme ({codes})", track=repr(track), codes=codes)
            )
        if self.template.prefectures and prefecture_code not in self.template.prefecture_codes:
            return NoSeat("prefecture_code", not_a_prefecture(prefecture_code))
        if not found.prefectures:
            return Seat(found.code, found.quota, phrase("track {track}", track=found.code), prefecture_code, found.code)
        share = next((q for q in found.prefectures if q.prefecture == prefecture_code), None)
        if share is None:
            return NoSeat(
                "prefecture_code",
                phrase("{prefecture} has no places in track {track}", prefecture=prefecture_code, track=found.code),
            )
        label = phrase("{prefecture} in track {track}", prefecture=prefecture_code, track=found.code)
        return Seat(self.key(prefecture_code, found.code), share.quota, label, prefecture_code, found.code)

    def key(self, prefecture_code: str, track: str | None) -> str:
        found = next((t for t in self.template.tracks if t.code == track), self.template.tracks[0])
        return f"{found.code}/{prefecture_code}" if found.prefectures else found.code


def quotas_of(programme: Programme | ProgrammeTemplate) -> Quotas:
    return TrackQuotas(programme) if isinstance(programme, ProgrammeTemplate) else PrefectureQuotas(programme)


def taken(quotas: Quotas, people: Iterable[tuple[str, str | None]]) -> dict[str, int]:
    """Places taken per quota key by people given as (prefecture code, track)."""
    return dict(Counter(quotas.key(pref, track) for pref, track in people))
