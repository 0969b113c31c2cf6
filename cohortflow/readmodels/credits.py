"""A person's credit statement (学时证明) across cohorts, and the rows of a cohort's credit export.

Teachers and principals must earn 360 hours in every five-year cycle; cycles
are blocks of calendar years (2021–2025, 2026–2030, …). An award counts in the
cycle of the day its hours were earned (a block's close) when it says so, else
of the day it was recorded, in China's time zone; a reversal counts in the cycle
of the entry it cancels, so correcting last cycle's mistake does not eat into
this cycle's hours. A person's standing against every rule, with credits from
outside cohorts too, is :mod:`cohortflow.readmodels.bank`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import and_, bindparam, func, select

from cohortflow.domain.vocabulary import PROVINCE_ZONE
from cohortflow.readmodels.queries import PERSON_KEY, Pool, in_prefecture, stream_rows
from cohortflow.store import tables as t
from cohortflow.store.sql import Statement, execute

REQUIREMENT_HOURS = 360
CYCLE_YEARS = 5
CYCLE_ANCHOR = 2021


class Cycle(BaseModel):
    first_year: int
    last_year: int

    def contains(self, day: date) -> bool:
        return self.first_year <= day.year <= self.last_year


class CreditEntry(BaseModel):
    entry_id: str
    cohort_id: str
    programme_id: str
    participant_id: str
    phase: str
    level: str
    hours: float
    earned_by: list[int]
    """Positions of the events that earned the hours (empty for a reversal)."""
    reverses: str | None
    reversed_by: str | None
    reason: str
    position: int
    recorded_at: datetime
    counts_in: Cycle


class CycleTotal(BaseModel):
    cycle: Cycle
    hours: float
    requirement_hours: float
    remaining_hours: float
    met: bool


class CreditStatement(BaseModel):
    person_key: str | None = Field(description=PERSON_KEY)
    today: date
    entries: list[CreditEntry]
    total_hours: float
    totals_by_level: dict[str, float]
    current_cycle: CycleTotal


class CreditRow(BaseModel):
    """One ledger entry of a cohort with the participant it belongs to: a row of the credits export."""

    cohort_id: str
    participant_id: str
    name: str
    national_id: str
    prefecture_code: str
    entry_id: str
    phase: str
    level: str
    hours: float
    earned_by: list[int]
    reverses: str | None
    reason: str
    position: int
    recorded_at: datetime


def cycle_of(day: date, anchor: int = CYCLE_ANCHOR) -> Cycle:
    first = anchor + (day.year - anchor) // CYCLE_YEARS * CYCLE_YEARS
    return Cycle(first_year=first, last_year=first + CYCLE_YEARS - 1)


def _hours(value: Decimal) -> float:
    return float(round(value, 6))


def _statement() -> Statement:
    """A person's entries in recording order, each with the entry that reverses it (if one does)."""
    k, r = t.rm_credits.alias("k"), t.rm_credits.alias("r")
    columns = ("entry_id", "cohort_id", "programme_id", "participant_id", "phase", "level", "hours", "earned_by")
    return Statement(
        select(
            *(k.c[n] for n in columns),
            k.c.reverses,
            r.c.entry_id,
            *(k.c[n] for n in ("reason", "position", "recorded_at", "counts_at")),
        )
        .join_from(k, r, and_(r.c.cohort_id == k.c.cohort_id, r.c.reverses == k.c.entry_id), isouter=True)
        .where(k.c.person_key == bindparam("person"))
        .order_by(k.c.position)
    )


_STATEMENT = _statement()


async def credit_statement(
    pool: Pool,
    person_key: str,
    *,
    today: date,
    requirement_hours: float = REQUIREMENT_HOURS,
    anchor_year: int = CYCLE_ANCHOR,
    timezone: tzinfo = PROVINCE_ZONE,
) -> CreditStatement:
    """Every entry of one person in every cohort, with totals by level and for the cycle ``today`` is in."""
    async with pool.connection() as conn:
        cur = await execute(conn, _STATEMENT, person=person_key)
        rows = await cur.fetchall()
    current = cycle_of(today, anchor_year)
    entries: list[CreditEntry] = []
    total, in_cycle = Decimal(0), Decimal(0)
    by_level: dict[str, Decimal] = {}
    for row in rows:
        hours: Decimal = row[6]
        counts_in = cycle_of(row[13].astimezone(timezone).date(), anchor_year)
        entries.append(_entry(row, counts_in))
        total += hours
        by_level[row[5]] = by_level.get(row[5], Decimal(0)) + hours
        if counts_in == current:
            in_cycle += hours
    required = Decimal(str(requirement_hours))
    return CreditStatement(
        person_key=person_key,
        today=today,
        entries=entries,
        total_hours=_hours(total),
        totals_by_level={level: _hours(h) for level, h in sorted(by_level.items())},
        current_cycle=CycleTotal(
            cycle=current,
            hours=_hours(in_cycle),
            requirement_hours=float(requirement_hours),
            remaining_hours=_hours(max(Decimal(0), required - in_cycle)),
            met=in_cycle >= required,
        ),
    )


def _entry(row: tuple[Any, ...], counts_in: Cycle) -> CreditEntry:
    return CreditEntry(
        entry_id=row[0],
        cohort_id=row[1],
        programme_id=row[2],
        participant_id=row[3],
        phase=row[4],
        level=row[5],
        hours=_hours(row[6]),
        earned_by=row[7],
        reverses=row[8],
        reversed_by=row[9],
        reason=row[10],
        position=row[11],
        recorded_at=row[12],
        counts_in=counts_in,
    )


_k, _p = t.rm_credits.alias("k"), t.rm_participants.alias("p")
_LEDGER = (
    select(
        _k.c.cohort_id,
        _k.c.participant_id,
        *(func.coalesce(_p.c[n], "") for n in ("name", "national_id", "prefecture_code")),
        *(_k.c[n] for n in ("entry_id", "phase", "level", "hours", "earned_by", "reverses", "reason", "position")),
        _k.c.recorded_at,
    )
    .join_from(_k, _p, and_(_p.c.cohort_id == _k.c.cohort_id, _p.c.participant_id == _k.c.participant_id), isouter=True)
    .where(_k.c.cohort_id == bindparam("cohort"))
    .order_by(_k.c.position)
)
"""A cohort's ledger in recording order, each entry with the name, ID number and prefecture of its participant."""


async def iter_credit_rows(pool: Pool, cohort_id: str, prefecture: str | None = None) -> AsyncIterator[CreditRow]:
    """A cohort's ledger in recording order, with names, streamed for the credits export."""
    statement, scope = in_prefecture(_LEDGER, prefecture, _p.c.prefecture_code)
    fields = list(CreditRow.model_fields)
    async for row in stream_rows(pool, statement, cohort=cohort_id, **scope):
        values = dict(zip(fields, row, strict=True))
        values["hours"] = _hours(values["hours"])
        yield CreditRow.model_validate(values)
