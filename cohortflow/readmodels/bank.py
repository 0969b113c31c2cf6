"""The credit bank read: registered people, and a person's standing against every rule that applies to them.

A person's entries come from two tables: a cohort's awards and reversals
(``rm_credits``, kind from the cohort's programme) and everything recorded
outside cohorts or reversed after the fact (``rm_bank_entries``). Both become
domain :class:`~cohortflow.domain.credit_bank.credits.Credit` values and the
domain judges them (:func:`~cohortflow.domain.credit_bank.standing.standing`).
Dates are China's: a credit recorded at 23:30 UTC was recorded the next day there.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, Field

from cohortflow.domain.credit_bank.credits import Credit, Source
from cohortflow.domain.credit_bank.people import PersonFacts
from cohortflow.domain.credit_bank.requirements import RequirementBook, parse_book
from cohortflow.domain.credit_bank.standing import View, effective, level_shares, standing
from cohortflow.domain.vocabulary import DEFAULT_TIME_ZONE
from cohortflow.readmodels.queries import Source as DbSource
from cohortflow.readmodels.queries import connection

PEOPLE_COLUMNS = tuple(PersonFacts.model_fields)
DEFAULT_REQUIREMENTS = "province.yaml"
"""The requirement book shipped with the package (``cohortflow/domain/credit_bank``)."""


@cache
def shipped_requirements() -> RequirementBook:
    text = resources.files("cohortflow.domain.credit_bank").joinpath(DEFAULT_REQUIREMENTS).read_text("utf-8")
    return parse_book(yaml.safe_load(text))


class PersonFilter(BaseModel):
    """Which registered people: every field given narrows it (a caller's scope, or what they searched for)."""

    prefecture_code: str | None = None
    county_code: str | None = None
    school: str | None = None
    name: str | None = None
    national_id: str | None = None
    """A whole ID number, for a role that reads them."""
    masked_id: tuple[str, int, str] | None = None
    """An ID number as a role shown them masked sees it: its division code, length and check character."""


def _where(where: PersonFilter) -> tuple[str, dict[str, str]]:
    """The conditions of ``where`` (only those it sets, so each query's plan fits its filters: a name's part is
    found through the trigram index, a county through its own) and their parameters."""
    conditions, params = [], {}
    for column in ("prefecture_code", "county_code", "school"):
        if (value := getattr(where, column)) is not None:
            conditions.append(f" AND {column} = %({column})s")
            params[column] = value
    if where.name:
        conditions.append(" AND name LIKE %(name)s")
        params["name"] = "%" + re.sub(r"([\\%_])", r"\\\1", where.name) + "%"  # the name's part, taken literally
    if where.national_id:
        conditions.append(" AND national_id = %(national_id)s")
        params["national_id"] = where.national_id
    ends = (where.national_id[:6], where.national_id[-1]) if where.national_id else None
    if where.masked_id:
        ends = (where.masked_id[0], where.masked_id[2])
    if ends:  # through the index on the number's two ends (rm_people_by_id_ends)
        conditions.append(" AND left(national_id, 6) = %(id_head)s AND right(national_id, 1) = %(id_check)s")
        params["id_head"], params["id_check"] = ends
    return "".join(conditions), params


async def person(source: DbSource, person_key: str, within: PersonFilter | None = None) -> PersonFacts | None:
    """A registered person (only if ``within`` covers them, when given: a caller's prefecture, county or school)."""
    conditions, params = _where(within or PersonFilter())
    async with connection(source) as conn:
        cur = await conn.execute(
            f"SELECT {', '.join(PEOPLE_COLUMNS)} FROM rm_people WHERE person_key = %(key)s{conditions}",
            {"key": person_key, **params},
        )
        row = await cur.fetchone()
    return None if row is None else PersonFacts.model_validate(dict(zip(PEOPLE_COLUMNS, row, strict=True)))


async def people(
    source: DbSource, where: PersonFilter, *, after: str | None = None, limit: int = 100
) -> list[PersonFacts]:
    """Registered people matching ``where``, by person key, at most ``limit`` after ``after``."""
    conditions, found = _where(where)
    sql = f"""
    SELECT {", ".join(PEOPLE_COLUMNS)} FROM rm_people
    WHERE person_key > %(after)s{conditions}
    ORDER BY person_key LIMIT %(limit)s
    """
    params = {**found, "after": after or "", "limit": limit}
    async with connection(source) as conn:
        rows = await (await conn.execute(sql, params)).fetchall()
    return [PersonFacts.model_validate(dict(zip(PEOPLE_COLUMNS, row, strict=True))) for row in rows]


_COHORT_CREDITS = f"""
SELECT k.person_key, k.cohort_id || '/' || k.entry_id, k.hours, k.level, coalesce(c.programme->>'kind', 'improvement'),
       (k.counts_at AT TIME ZONE '{DEFAULT_TIME_ZONE}')::date, (k.recorded_at AT TIME ZONE '{DEFAULT_TIME_ZONE}')::date,
       CASE WHEN k.reverses IS NULL THEN NULL ELSE k.cohort_id || '/' || k.reverses END, k.reason,
       coalesce(c.programme_name, k.programme_id)
FROM rm_credits k LEFT JOIN rm_cohorts c ON c.cohort_id = k.cohort_id
WHERE k.person_key = ANY(%s)
"""
_BANK_CREDITS = f"""
SELECT person_key, entry_id, source, title, hours, level, kind, earned_on,
       (recorded_at AT TIME ZONE '{DEFAULT_TIME_ZONE}')::date, days, off_the_job,
       CASE WHEN reverses_cohort IS NULL THEN reverses ELSE reverses_cohort || '/' || reverses END, reason
FROM rm_bank_entries WHERE person_key = ANY(%s)
"""


class Entry(BaseModel):
    """One entry as a statement lists it: where its hours came from, when they were earned and recorded."""

    entry_id: str
    source: Source
    title: str
    hours: float
    level: str
    kind: str
    earned_on: date
    recorded_on: date
    reverses: str | None
    reason: str


Labels = dict[str, tuple[Source, str]]
"""Each entry's source and title (for a cohort's award, its programme), by entry id."""


async def entries_of(source: DbSource, person_keys: list[str]) -> dict[str, tuple[list[Credit], Labels]]:
    """Every entry of each person as domain credits, with their labels: two queries however many people."""
    found: dict[str, tuple[list[Credit], Labels]] = {key: ([], {}) for key in person_keys}
    async with connection(source) as conn:
        cur = await conn.execute(_COHORT_CREDITS, (person_keys,))
        for key, entry_id, hours, level, kind, earned, recorded, reverses, reason, title in await cur.fetchall():
            credits, labels = found[key]
            credits.append(
                Credit(
                    entry_id,
                    key,
                    float(hours),
                    level,
                    kind,
                    "cohort",
                    earned,
                    recorded,
                    reverses=reverses,
                    reason=reason,
                )
            )
            labels[entry_id] = ("cohort", title)
        cur = await conn.execute(_BANK_CREDITS, (person_keys,))
        for row in await cur.fetchall():
            key, entry_id, src, title, hours, level, kind, earned, recorded, days, off_job, reverses, reason = row
            credits, labels = found[key]
            # A reversal's own facts are the cancelled entry's (the domain copies them): these are placeholders.
            kept_source: Source = "cohort" if src == "reversal" else src
            credits.append(
                Credit(
                    entry_id,
                    key,
                    float(hours),
                    level or "school",
                    kind or "school_based",
                    kept_source,
                    earned or recorded,
                    recorded,
                    days or 1,
                    bool(off_job),
                    reverses=reverses,
                    reason=reason,
                )
            )
            labels[entry_id] = (kept_source, title)
    return found


class RuleView(BaseModel):
    rule_id: str
    title: str
    unit: Literal["hours", "days"]
    required: float
    achieved: float
    missing: float
    met: bool
    window: tuple[date, date] | None
    why: str
    counted: list[str] = Field(description="The entries that count (their ids; reversals negative)")


class Standing(BaseModel):
    person: PersonFacts
    as_of: date
    view: View
    requirements_version: int
    rules: list[RuleView]
    entries: list[Entry] = Field(description="Every entry standing on the day, reversals carrying the hours taken")
    level_shares: dict[str, float]
    level_targets: dict[str, float]


async def person_standing(
    source: DbSource, facts: PersonFacts, book: RequirementBook, as_of: date, view: View = "known_now"
) -> Standing:
    credits, labels = (await entries_of(source, [facts.person_key]))[facts.person_key]
    requirements = book.in_force(as_of)
    judged = standing(facts.person(), credits, requirements, as_of, view)
    standing_entries = effective(credits, as_of, view)
    return Standing(
        person=facts,
        as_of=as_of,
        view=view,
        requirements_version=requirements.version,
        rules=[
            RuleView(
                rule_id=r.rule_id,
                title=r.title,
                unit=r.unit,
                required=r.required,
                achieved=round(r.achieved, 6),
                missing=round(r.missing, 6),
                met=r.met,
                window=r.window,
                why=r.why,
                counted=[c.entry_id for c in r.counted],
            )
            for r in judged
        ],
        entries=[entry_view(c, labels) for c in sorted(standing_entries, key=lambda c: (c.earned_on, c.entry_id))],
        level_shares={k: round(v, 4) for k, v in level_shares(standing_entries).items()},
        level_targets=requirements.level_targets.model_dump(),
    )


def entry_view(credit: Credit, labels: Labels) -> Entry:
    """A credit as a statement lists it (a reversal under the source and title of what it cancels)."""
    source, title = labels.get(credit.reverses or credit.entry_id, labels.get(credit.entry_id, ("cohort", "")))
    return Entry(
        entry_id=credit.entry_id,
        source=source,
        title=title,
        hours=credit.hours,
        level=credit.level,
        kind=credit.kind,
        earned_on=credit.earned_on,
        recorded_on=credit.recorded_on,
        reverses=credit.reverses,
        reason=credit.reason,
    )
