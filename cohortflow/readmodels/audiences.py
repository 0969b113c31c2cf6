"""Who a reminder rule reaches when it fires, read from the read models.

Only people still in the programme count: not withdrawn and, once the
selection is decided, selected. Each audience then keeps those who have not
done the work the rule is about, so finished work is never reminded.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from cohortflow.domain.phrases import phrase
from cohortflow.domain.reminder_rules import ReminderRule
from cohortflow.domain.template import AnyTemplate, pinned

_STILL_BEHIND: dict[str, str] = {
    "under_required_hours": "p.hours < c.online_min_hours",
    "missing_deliverable": "NOT (%(item)s = ANY (p.deliverables))",
    "return_report_pending": "NOT p.return_report",
    "survey_pending": "NOT (p.surveys ? %(item)s)",
}


_RECIPIENT_SELECT = (
    "SELECT p.participant_id, p.name, p.school, p.prefecture_code, p.hours, p.email, p.phone, p.locale "
    "FROM rm_participants p"
)


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
    condition = _STILL_BEHIND[rule.audience]
    cur = await conn.execute(
        f"{_RECIPIENT_SELECT} JOIN rm_cohorts c ON c.cohort_id = p.cohort_id "
        "WHERE p.cohort_id = %(cohort)s AND NOT p.withdrawn AND (c.selection_digest IS NULL OR p.selected) "
        f"AND {condition} ORDER BY p.participant_id",
        {"cohort": cohort_id, "item": rule.deliverable or rule.survey},
    )
    return [ParticipantRecipient(*row) for row in await cur.fetchall()]


async def participants_by_id(
    conn: AsyncConnection[TupleRow], cohort_id: str, participant_ids: list[str]
) -> list[ParticipantRecipient]:
    """The named participants who are still in the programme, in participant order."""
    cur = await conn.execute(
        f"{_RECIPIENT_SELECT} WHERE p.cohort_id = %s AND p.participant_id = ANY(%s) AND NOT p.withdrawn "
        "ORDER BY p.participant_id",
        (cohort_id, participant_ids),
    )
    return [ParticipantRecipient(*row) for row in await cur.fetchall()]


async def cohort_completed(conn: AsyncConnection[TupleRow], cohort_id: str) -> bool:
    cur = await conn.execute("SELECT completed FROM rm_cohorts WHERE cohort_id = %s", (cohort_id,))
    row = await cur.fetchone()
    return bool(row and row[0])


async def participant(
    conn: AsyncConnection[TupleRow], cohort_id: str, participant_id: str
) -> ParticipantRecipient | None:
    cur = await conn.execute(
        f"{_RECIPIENT_SELECT} WHERE p.cohort_id = %s AND p.participant_id = %s", (cohort_id, participant_id)
    )
    row = await cur.fetchone()
    return ParticipantRecipient(*row) if row else None


async def cohort_programme(conn: AsyncConnection[TupleRow], cohort_id: str) -> AnyTemplate:
    """The programme version the cohort runs under, of either form; LookupError if the cohort is unknown."""
    cur = await conn.execute("SELECT programme FROM rm_cohorts WHERE cohort_id = %s", (cohort_id,))
    row = await cur.fetchone()
    if row is None:
        raise LookupError(phrase("cohort {cohort_id} is not known (yet)", cohort_id=cohort_id))
    return pinned(row[0])
