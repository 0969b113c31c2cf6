"""A school's list in a district's annual review: every entry of the school's people earned in the year under
review, whoever recorded it, for the reviewer to check before approving or returning it."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from cohortflow.domain.credit_bank.standing import effective
from cohortflow.readmodels.bank import Entry, PersonFilter, entries_of, entry_view, people
from cohortflow.readmodels.queries import Source as DbSource

PAGE = 1_000
"""People read at a time (a school has tens to hundreds)."""


class ListedEntry(Entry):
    person_key: str
    name: str
    national_id: str


class SchoolList(BaseModel):
    school: str
    year: int
    people: int
    hours: float
    """The hours that stand: a reversal subtracts what it cancels, in the year the cancelled hours were earned."""
    entries: list[ListedEntry]


async def school_list(source: DbSource, county_code: str, school: str, year: int) -> SchoolList:
    where = PersonFilter(county_code=county_code, school=school)
    listed: list[ListedEntry] = []
    counted = 0
    after: str | None = None
    while found := await people(source, where, after=after, limit=PAGE):
        after, counted = found[-1].person_key, counted + len(found)
        credits = await entries_of(source, [p.person_key for p in found])
        for facts in found:
            mine, labels = credits[facts.person_key]
            for credit in sorted(effective(mine, date.max, "known_now"), key=lambda c: (c.earned_on, c.entry_id)):
                if credit.earned_on.year == year:
                    entry = entry_view(credit, labels)
                    listed.append(
                        ListedEntry(
                            **entry.model_dump(),
                            person_key=facts.person_key,
                            name=facts.name,
                            national_id=facts.national_id,
                        )
                    )
    hours = round(sum(e.hours for e in listed), 6)
    return SchoolList(school=school, year=year, people=counted, hours=hours, entries=listed)
