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
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Date, any_, bindparam, case, cast, func, select

from cohortflow.domain.credit_bank.credits import Credit, Source
from cohortflow.domain.credit_bank.people import PersonFacts
from cohortflow.domain.credit_bank.requirements import RequirementBook, parse_book
from cohortflow.domain.credit_bank.standing import View, effective, level_shares, standing
from cohortflow.domain.vocabulary import DEFAULT_TIME_ZONE
from cohortflow.readmodels.queries import Source as DbSource
from cohortflow.readmodels.queries import connection
from cohortflow.store import tables as t
from cohortflow.store.sql import Statement, execute

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


_PEOPLE = select(*(t.rm_people.c[c] for c in PEOPLE_COLUMNS))


def _where(where: PersonFilter) -> tuple[frozenset[str], dict[str, str]]:
    """Which of the filter's conditions ``where`` sets (only those go in the query, so each query's plan fits its
    filters: a name's part is found through the trigram index, a county through its own) and their parameters."""
    params = {}
    for column in ("prefecture_code", "county_code", "school"):
        if (value := getattr(where, column)) is not None:
            params[column] = value
    if where.name:
        params["name"] = "%" + re.sub(r"([\\%_])", r"\\\1", where.name) + "%"  # the name's part, taken literally
    if where.national_id:
        params["national_id"] = where.national_id
    ends = (where.national_id[:6], where.national_id[-1]) if where.national_id else None
    if where.masked_id:
        ends = (where.masked_id[0], where.masked_id[2])
    if ends:  # through the index on the number's two ends (rm_people_by_id_ends)
        params["id_head"], params["id_check"] = ends
    return frozenset(params), params


def _conditions(names: frozenset[str]) -> list[ColumnElement[bool]]:
    people = t.rm_people.c
    conditions = [people[c] == bindparam(c) for c in ("prefecture_code", "county_code", "school") if c in names]
    if "name" in names:
        conditions.append(people.name.like(bindparam("name")))
    if "national_id" in names:
        conditions.append(people.national_id == bindparam("national_id"))
    if "id_head" in names:
        conditions.append(func.left(people.national_id, 6) == bindparam("id_head"))
        conditions.append(func.right(people.national_id, 1) == bindparam("id_check"))
    return conditions


@cache
def _one_person(names: frozenset[str]) -> Statement:
    """The statement for each set of conditions, compiled once."""
    return Statement(_PEOPLE.where(t.rm_people.c.person_key == bindparam("key"), *_conditions(names)))


@cache
def _people(names: frozenset[str]) -> Statement:
    return Statement(
        _PEOPLE.where(t.rm_people.c.person_key > bindparam("after"), *_conditions(names))
        .order_by(t.rm_people.c.person_key)
        .limit(bindparam("limit"))
    )


async def person(source: DbSource, person_key: str, within: PersonFilter | None = None) -> PersonFacts | None:
    """A registered person (only if ``within`` covers them, when given: a caller's prefecture, county or school)."""
    names, params = _where(within or PersonFilter())
    async with connection(source) as conn:
        cur = await execute(conn, _one_person(names), key=person_key, **params)
        row = await cur.fetchone()
    return None if row is None else PersonFacts.model_validate(dict(zip(PEOPLE_COLUMNS, row, strict=True)))


async def people(
    source: DbSource, where: PersonFilter, *, after: str | None = None, limit: int = 100
) -> list[PersonFacts]:
    """Registered people matching ``where``, by person key, at most ``limit`` after ``after``."""
    names, found = _where(where)
    async with connection(source) as conn:
        cur = await execute(conn, _people(names), after=after or "", limit=limit, **found)
        rows = await cur.fetchall()
    return [PersonFacts.model_validate(dict(zip(PEOPLE_COLUMNS, row, strict=True))) for row in rows]


def _local_date(moment: ColumnElement[Any]) -> ColumnElement[date]:
    """The day it was in China at that moment."""
    return cast(func.timezone(DEFAULT_TIME_ZONE, moment), Date)


_k, _c = t.rm_credits.alias("k"), t.rm_cohorts.alias("c")
_COHORT_CREDITS = Statement(
    select(
        _k.c.person_key,
        _k.c.cohort_id + "/" + _k.c.entry_id,
        _k.c.hours,
        _k.c.level,
        func.coalesce(_c.c.programme["kind"].astext, "improvement"),
        _local_date(_k.c.counts_at),
        _local_date(_k.c.recorded_at),
        case((_k.c.reverses.is_not(None), _k.c.cohort_id + "/" + _k.c.reverses)),
        _k.c.reason,
        func.coalesce(_c.c.programme_name, _k.c.programme_id),
    )
    .select_from(_k.outerjoin(_c, _c.c.cohort_id == _k.c.cohort_id))
    .where(_k.c.person_key == any_(bindparam("keys")))
)
_b = t.rm_bank_entries.c
_BANK_CREDITS = Statement(
    select(
        _b.person_key,
        _b.entry_id,
        _b.source,
        _b.title,
        _b.hours,
        _b.level,
        _b.kind,
        _b.earned_on,
        _local_date(_b.recorded_at),
        _b.days,
        _b.off_the_job,
        case((_b.reverses_cohort.is_(None), _b.reverses), else_=_b.reverses_cohort + "/" + _b.reverses),
        _b.reason,
    ).where(_b.person_key == any_(bindparam("keys")))
)


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
        cur = await execute(conn, _COHORT_CREDITS, keys=person_keys)
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
        cur = await execute(conn, _BANK_CREDITS, keys=person_keys)
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
