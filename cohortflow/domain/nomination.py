"""Nomination (推荐): turning submitted rows into CandidateNominated events.

Every row is checked and every problem reported with its row number and field;
if any row is bad, nothing is nominated.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cohortflow.domain import national_id
from cohortflow.domain.events import CandidateNominated
from cohortflow.domain.programme import Programme


@dataclass(frozen=True)
class NomineeRow:
    row: int
    participant_id: str
    name: str
    national_id: str
    gender: str
    prefecture_code: str
    school: str
    role: str
    email: str | None = None
    phone: str | None = None
    locale: str = "zh"


class InvalidRecords(ValueError):
    """Rows that cannot be applied; ``problems`` names each row, field and reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:20]
        more = f"\n… and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{len(problems)} bad record(s):\n- " + "\n- ".join(shown) + more)


class NominationCheck:
    """Check nominee rows one at a time against the programme's quotas.

    ``already`` counts earlier nominations per prefecture, ``known_people`` and
    ``known_ids`` hold those already in the cohort, so a second import cannot
    exceed a quota or nominate someone twice. ``prefecture`` limits a
    coordinator to their own prefecture's people.
    """

    def __init__(
        self,
        programme: Programme,
        already: dict[str, int] | None = None,
        known_people: set[str] | None = None,
        known_ids: set[str] | None = None,
        prefecture: str | None = None,
    ) -> None:
        self.programme = programme
        self.prefecture = prefecture
        self._counts = dict(already or {})
        self._people = set(known_people or ())
        self._known_ids = set(known_ids or ())
        self._ids: set[str] = set()

    def check(self, r: NomineeRow) -> CandidateNominated | list[str]:
        where = f"row {r.row}"
        problems: list[str] = []
        try:
            nid = national_id.validate(r.national_id)
        except national_id.InvalidNationalId as exc:
            problems.append(f"{where}, national_id: {exc}")
            nid = ""
        pref = self.programme.prefecture(r.prefecture_code)
        if pref is None:
            problems.append(f"{where}, prefecture_code: {r.prefecture_code!r} is not a prefecture of this programme")
        elif self.prefecture is not None and pref.code != self.prefecture:
            problems.append(f"{where}, prefecture_code: {pref.code} is not your prefecture ({self.prefecture})")
        if not r.name.strip():
            problems.append(f"{where}, name: is empty")
        if r.gender not in ("M", "F"):
            problems.append(f"{where}, gender: {r.gender!r} must be M or F")
        if r.participant_id in self._known_ids:
            problems.append(f"{where}, participant_id: {r.participant_id} is already nominated in this cohort")
        elif r.participant_id in self._ids:
            problems.append(f"{where}, participant_id: {r.participant_id} appears twice")
        self._ids.add(r.participant_id)
        key = national_id.person_key(nid) if nid else ""
        if key and key in self._people:
            problems.append(f"{where}, national_id: the same person ({national_id.mask(nid)}) is nominated twice")
        if problems or pref is None:
            return problems  # a row that is bad anyway does not use up a place in the quota
        self._counts[pref.code] = self._counts.get(pref.code, 0) + 1
        if self._counts[pref.code] > pref.quota:
            return [f"{where}, prefecture_code: {pref.code} ({pref.name}) is over its quota {pref.quota}"]
        self._people.add(key)
        return CandidateNominated(
            participant_id=r.participant_id,
            person_key=key,
            name=r.name.strip(),
            national_id=nid,
            gender="M" if r.gender == "M" else "F",
            prefecture_code=r.prefecture_code,
            school=r.school.strip(),
            role=r.role.strip(),
            email=r.email,
            phone=r.phone,
            locale="en" if r.locale == "en" else "zh",
        )


def nominate(
    programme: Programme,
    rows: Iterable[NomineeRow],
    already: dict[str, int] | None = None,
    known_people: set[str] | None = None,
) -> list[CandidateNominated]:
    """Validate nominee rows against the programme's quotas; all or nothing."""
    check = NominationCheck(programme, already, known_people)
    problems: list[str] = []
    events: list[CandidateNominated] = []
    for r in rows:
        outcome = check.check(r)
        if isinstance(outcome, list):
            problems.extend(outcome)
        else:
            events.append(outcome)
    if problems:
        raise InvalidRecords(problems)
    return events
