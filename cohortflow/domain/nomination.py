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


class InvalidRecords(ValueError):
    """Rows that cannot be applied; ``problems`` names each row, field and reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:20]
        more = f"\n… and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{len(problems)} bad record(s):\n- " + "\n- ".join(shown) + more)


def nominate(
    programme: Programme,
    rows: Iterable[NomineeRow],
    already: dict[str, int] | None = None,
    known_people: set[str] | None = None,
) -> list[CandidateNominated]:
    """Validate nominee rows against the programme's quotas; all or nothing.

    ``already`` counts earlier nominations per prefecture, ``known_people`` holds
    person keys already in the cohort, so a second import cannot exceed a quota
    or nominate someone twice.
    """
    counts = dict(already or {})
    seen_people = set(known_people or ())
    seen_ids: set[str] = set()
    problems: list[str] = []
    events: list[CandidateNominated] = []
    for r in rows:
        where = f"row {r.row}"
        bad = len(problems)
        try:
            nid = national_id.validate(r.national_id)
        except national_id.InvalidNationalId as exc:
            problems.append(f"{where}, national_id: {exc}")
            nid = ""
        pref = programme.prefecture(r.prefecture_code)
        if pref is None:
            problems.append(f"{where}, prefecture_code: {r.prefecture_code!r} is not a prefecture of this programme")
        if not r.name.strip():
            problems.append(f"{where}, name: is empty")
        if r.gender not in ("M", "F"):
            problems.append(f"{where}, gender: {r.gender!r} must be M or F")
        if r.participant_id in seen_ids:
            problems.append(f"{where}, participant_id: {r.participant_id} appears twice")
        seen_ids.add(r.participant_id)
        key = national_id.person_key(nid) if nid else ""
        if key and key in seen_people:
            problems.append(f"{where}, national_id: the same person ({national_id.mask(nid)}) is nominated twice")
        if len(problems) > bad or pref is None:
            continue  # a row that is bad anyway does not use up a place in the quota
        counts[pref.code] = counts.get(pref.code, 0) + 1
        if counts[pref.code] > pref.quota:
            problems.append(f"{where}, prefecture_code: {pref.code} ({pref.name}) is over its quota {pref.quota}")
            continue
        seen_people.add(key)
        events.append(
            CandidateNominated(
                participant_id=r.participant_id,
                person_key=key,
                name=r.name.strip(),
                national_id=nid,
                gender="M" if r.gender == "M" else "F",
                prefecture_code=r.prefecture_code,
                school=r.school.strip(),
                role=r.role.strip(),
            )
        )
    if problems:
        raise InvalidRecords(problems)
    return events
