"""Nomination (推荐): turning submitted rows into CandidateNominated events.

Every row is checked and every problem reported with its row number and field;
if any row is bad, nothing is nominated.
"""

from __future__ import annotations

from collections.abc import Collection, Container, Iterable
from dataclasses import dataclass

from cohortflow.domain import national_id
from cohortflow.domain.events import CandidateNominated
from cohortflow.domain.national_id import PersonKeys
from cohortflow.domain.phrases import in_lines, phrase
from cohortflow.domain.programme import Programme
from cohortflow.domain.quotas import NoSeat, Quotas, Seat, quotas_of
from cohortflow.domain.rotation_plan import already_enrolled, not_on_roster


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
    track: str = ""
    school_level: str | None = None


class InvalidRecords(ValueError):
    """Rows that cannot be applied; ``problems`` names each row, field and reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listed = in_lines(problems[:20])
        if len(problems) > 20:
            said = phrase(
                "{count} bad record(s):\n- {problems}\n… and {more} more",
                count=len(problems),
                problems=listed,
                more=len(problems) - 20,
            )
        else:
            said = phrase("{count} bad record(s):\n- {problems}", count=len(problems), problems=listed)
        super().__init__(said)


@dataclass(frozen=True)
class ScreenedNominee:
    """A nominee row checked on its own, before anything that depends on the rest of the file."""

    row: NomineeRow
    national_id: str
    """Normalised, or empty if the ID number is invalid."""
    person_key: str
    """The person's key, or empty if the ID number is invalid."""
    seat: Seat | None
    """Whose quota the nomination would count against, if the row names one that exists."""
    problems: tuple[str, ...]


class NominationCheck:
    """Check nominee rows one at a time against the programme's quotas.

    ``already`` counts earlier nominations per quota (:func:`cohortflow.domain.quotas.taken`), ``known_people`` and
    ``known_ids`` hold those already in the cohort, so a second import cannot
    exceed a quota or nominate someone twice. ``prefecture`` limits a
    coordinator to their own prefecture's people. ``keys`` is how the store
    keys people (``known_people`` must be keyed the same way).

    :meth:`check` also remembers every row's participant id and every accepted
    person, to refuse repeats within the file. A caller that finds repeats
    elsewhere (an import keeps them in the database, so its memory does not grow
    with the file) uses :meth:`screen` and :meth:`decide` instead, in row order.
    """

    def __init__(
        self,
        programme: Programme | Quotas,
        already: dict[str, int] | None = None,
        known_people: Collection[str] | None = None,
        known_ids: Container[str] | None = None,
        prefecture: str | None = None,
        *,
        keys: PersonKeys,
    ) -> None:
        self.quotas = quotas_of(programme) if isinstance(programme, Programme) else programme
        self.prefecture = prefecture
        self.keys = keys
        self._counts = dict(already or {})
        self._people = set(known_people or ())
        self._known_ids: Container[str] = known_ids if known_ids is not None else frozenset()
        self._ids: set[str] = set()

    def check(self, r: NomineeRow) -> CandidateNominated | list[str]:
        screened = self.screen(r)
        key = screened.person_key
        outcome = self.decide(
            screened, id_seen=r.participant_id in self._ids, person_seen=bool(key) and key in self._people
        )
        self._ids.add(r.participant_id)
        if not isinstance(outcome, list):
            self._people.add(key)
        return outcome

    def screen(self, r: NomineeRow) -> ScreenedNominee:
        """The row's own problems; no state changes."""
        where = phrase("row {row}", row=r.row)
        nid, problems = national_id.checked(r.national_id, where)
        seat = self.quotas.seat(r.prefecture_code, r.track)
        if isinstance(seat, NoSeat):
            problems.append(seat.problem(where))
        elif self.prefecture is not None and seat.prefecture_code != self.prefecture:
            problems.append(
                phrase(
                    "{where}, prefecture_code: {prefecture} is not your prefecture ({yours})",
                    where=where,
                    prefecture=seat.prefecture_code,
                    yours=self.prefecture,
                )
            )
        if not r.name.strip():
            problems.append(phrase("{where}, name: is empty", where=where))
        if r.gender not in ("M", "F"):
            problems.append(phrase("{where}, gender: {gender} must be M or F", where=where, gender=repr(r.gender)))
        key = self.keys.of(nid) if nid else ""
        return ScreenedNominee(r, nid, key, seat if isinstance(seat, Seat) else None, tuple(problems))

    def decide(
        self,
        s: ScreenedNominee,
        *,
        id_seen: bool,
        person_seen: bool,
        enrolled_in: str | None = None,
        off_roster_of: str | None = None,
    ) -> CandidateNominated | list[str]:
        """The row's nomination or its problems, given what came before it; rows must come in file order.

        ``id_seen``: an earlier row of the file has the same participant id (whatever became of that row).
        ``person_seen``: an earlier row of the file nominated the same person (only an accepted nomination
        makes a person known), or the person is known otherwise; ``known_people`` is also asked.
        ``enrolled_in``: another cohort of the cohort's rotation plan the person is enrolled in.
        ``off_roster_of``: the rotation plan whose roster does not list the person.
        """
        r, nid, key, seat = s.row, s.national_id, s.person_key, s.seat
        where = phrase("row {row}", row=r.row)
        problems = list(s.problems)
        if r.participant_id in self._known_ids:
            problems.append(
                phrase(
                    "{where}, participant_id: {participant_id} is already nominated in this cohort",
                    where=where,
                    participant_id=r.participant_id,
                )
            )
        elif id_seen:
            problems.append(
                phrase(
                    "{where}, participant_id: {participant_id} appears twice",
                    where=where,
                    participant_id=r.participant_id,
                )
            )
        if key and (person_seen or key in self._people):
            problems.append(
                phrase(
                    "{where}, national_id: the same person ({masked_id}) is nominated twice",
                    where=where,
                    masked_id=national_id.mask(nid),
                )
            )
        if enrolled_in is not None:
            problems.append(already_enrolled(where, national_id.mask(nid), enrolled_in))
        if off_roster_of is not None and key:
            problems.append(not_on_roster(where, national_id.mask(nid), off_roster_of))
        if problems or seat is None:
            return problems  # a row that is bad anyway does not use up a place in the quota
        self._counts[seat.key] = self._counts.get(seat.key, 0) + 1
        if self._counts[seat.key] > seat.quota:
            return [
                phrase(
                    "{where}, prefecture_code: {seat} is over its quota {quota}",
                    where=where,
                    seat=seat.label,
                    quota=seat.quota,
                )
            ]
        return _nominated(s, seat)

    @staticmethod
    def nomination(s: ScreenedNominee) -> CandidateNominated | None:
        """The nomination the row records if it is accepted; None for a row with problems of its own.

        Whether it is accepted depends on what came before it (:meth:`decide`); what it records does not.
        """
        return None if s.problems or s.seat is None else _nominated(s, s.seat)


def _nominated(s: ScreenedNominee, seat: Seat) -> CandidateNominated:
    r = s.row
    return CandidateNominated(
        participant_id=r.participant_id,
        person_key=s.person_key,
        name=r.name.strip(),
        national_id=s.national_id,
        gender="M" if r.gender == "M" else "F",
        prefecture_code=r.prefecture_code,
        school=r.school.strip(),
        role=r.role.strip(),
        email=r.email,
        phone=r.phone,
        locale="en" if r.locale == "en" else "zh",
        track=seat.track,
        school_level=r.school_level or None,
    )


def nominate(
    programme: Programme,
    rows: Iterable[NomineeRow],
    already: dict[str, int] | None = None,
    known_people: set[str] | None = None,
    *,
    keys: PersonKeys,
) -> list[CandidateNominated]:
    """Validate nominee rows against the programme's quotas; all or nothing."""
    check = NominationCheck(programme, already, known_people, keys=keys)
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
