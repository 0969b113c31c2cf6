"""Who a reminder rule reaches when it fires, read from the read models.

Only people still in the programme count: not withdrawn and, once the
selection is decided, selected. Each audience then keeps those who have not
done the work the rule is about, so finished work is never reminded.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from sqlalchemy import BindParameter, ColumnElement, any_, bindparam, not_, or_, select

from cohortflow.domain.phrases import phrase
from cohortflow.domain.reminder_rules import ReminderRule
from cohortflow.domain.template import AnyTemplate, pinned
from cohortflow.store import tables as t
from cohortflow.store.sql import Statement, execute

P = t.rm_participants.alias("p")
C = t.rm_cohorts.alias("c")
_RECIPIENT = select(
    P.c.participant_id, P.c.name, P.c.school, P.c.prefecture_code, P.c.hours, P.c.email, P.c.phone, P.c.locale
)
_ITEM: BindParameter[str] = bindparam("item")
_STILL_BEHIND: dict[str, ColumnElement[bool]] = {
    "under_required_hours": P.c.hours < C.c.online_min_hours,
    "missing_deliverable": not_(any_(P.c.deliverables) == _ITEM),
    "return_report_pending": not_(P.c.return_report),
    "survey_pending": not_(P.c.surveys.has_key(_ITEM)),
}
BEHIND = {
    audience: Statement(
        _RECIPIENT.join_from(P, C, C.c.cohort_id == P.c.cohort_id)
        .where(
            P.c.cohort_id == bindparam("cohort"),
            not_(P.c.withdrawn),
            or_(C.c.selection_digest.is_(None), P.c.selected),
            condition,
        )
        .order_by(P.c.participant_id)
    )
    for audience, condition in _STILL_BEHIND.items()
}
BY_ID = Statement(
    _RECIPIENT.where(
        P.c.cohort_id == bindparam("cohort"),
        P.c.participant_id == any_(bindparam("participants")),
        not_(P.c.withdrawn),
    ).order_by(P.c.participant_id)
)
ONE = Statement(_RECIPIENT.where(P.c.cohort_id == bindparam("cohort"), P.c.participant_id == bindparam("participant")))
_cohort = t.rm_cohorts.c.cohort_id == bindparam("cohort")
COMPLETED = Statement(select(t.rm_cohorts.c.completed).where(_cohort))
PROGRAMME = Statement(select(t.rm_cohorts.c.programme).where(_cohort))


@dataclass(frozen=True)
class ParticipantRecipient:
    participant_id: str
    name: str
    school: str
    prefecture_code: str
    hours: float
    email: str | None
    phone: str | None
    locale: str


async def participants_behind(
    conn: AsyncConnection[TupleRow], cohort_id: str, rule: ReminderRule
) -> list[ParticipantRecipient]:
    statement = BEHIND[rule.audience]
    item = {"item": rule.deliverable or rule.survey} if "item" in statement.needed else {}
    cur = await execute(conn, statement, cohort=cohort_id, **item)
    return [ParticipantRecipient(*row) for row in await cur.fetchall()]


async def participants_by_id(
    conn: AsyncConnection[TupleRow], cohort_id: str, participant_ids: list[str]
) -> list[ParticipantRecipient]:
    """The named participants who are still in the programme, in participant order."""
    cur = await execute(conn, BY_ID, cohort=cohort_id, participants=participant_ids)
    return [ParticipantRecipient(*row) for row in await cur.fetchall()]


async def cohort_completed(conn: AsyncConnection[TupleRow], cohort_id: str) -> bool:
    cur = await execute(conn, COMPLETED, cohort=cohort_id)
    row = await cur.fetchone()
    return bool(row and row[0])


async def participant(
    conn: AsyncConnection[TupleRow], cohort_id: str, participant_id: str
) -> ParticipantRecipient | None:
    cur = await execute(conn, ONE, cohort=cohort_id, participant=participant_id)
    row = await cur.fetchone()
    return ParticipantRecipient(*row) if row else None


async def cohort_programme(conn: AsyncConnection[TupleRow], cohort_id: str) -> AnyTemplate:
    """The programme version the cohort runs under, of either form; LookupError if the cohort is unknown."""
    cur = await execute(conn, PROGRAMME, cohort=cohort_id)
    row = await cur.fetchone()
    if row is None:
        raise LookupError(phrase("cohort {cohort_id} is not known (yet)", cohort_id=cohort_id))
    return pinned(row[0])
