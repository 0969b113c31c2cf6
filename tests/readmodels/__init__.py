"""Cohorts written event by event through ``EventStore.append``, as the activities would record them.

Decisions (selection, withdrawals, placements, credits, completion) are taken
by the domain functions over the facts folded so far, so credits name the real
positions that earned them. Every kind of event the read models know appears,
with the awkward ones too: study recorded piecemeal, corrections, a withdrawal
refilled from the waiting list and one refilled later as an open place, a
reversed credit, and events of other streams in between.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from cohortflow.demo.sample import attendance, nominees, online_study, returns_report, sample_programme, survey_answer
from cohortflow.domain.completion import completers, credit_awards
from cohortflow.domain.cycle import decide_fill_place, decide_withdrawal
from cohortflow.domain.events import (
    AuditQueried,
    CandidateNominated,
    CohortCompleted,
    CohortStarted,
    DeadlineExtended,
    DeliverableSubmitted,
    Event,
    FactCorrected,
    FieldAttendanceRecorded,
    FieldBatchCompleted,
    Metadata,
    OnlineStudyRecorded,
    ParticipantCompleted,
    ParticipantWithdrawn,
    PhaseClosed,
    PhaseOpened,
    ProgrammeVersionSubmitted,
    ReturnReportSubmitted,
    SelectionDecided,
    StudyHoursRecorded,
    SurveyResponded,
)
from cohortflow.domain.facts import CohortFacts
from cohortflow.domain.ledger import Ledger
from cohortflow.domain.placement import allocate
from cohortflow.domain.programme import PHASE_ORDER, PhaseKind, Programme
from cohortflow.domain.selection import Candidate, select
from cohortflow.readmodels.projector import Projector
from cohortflow.runtime.postgres import EmbeddedPostgres
from cohortflow.store.eventstore import EventStore
from cohortflow.store.records import EventPayload, NewEvent
from tests.conftest import fresh_database

CHUNK = 2_000
"""Events per append: several appends per phase, like a batch activity's."""


class CohortWriter:
    """Appends one cohort's events and folds them as it goes."""

    def __init__(self, store: EventStore, cohort_id: str, programme: Programme, actor: str = "system:test") -> None:
        self.store, self.cohort_id, self.programme, self.actor = store, cohort_id, programme, actor
        self.facts = CohortFacts()
        self.ledger = Ledger()
        self.steps = 0

    async def record(self, step: str, events: Sequence[Event], actor: str | None = None) -> list[int]:
        positions: list[int] = []
        for start in range(0, len(events), CHUNK):
            chunk = events[start : start + CHUNK]
            self.steps += 1
            metadata = Metadata(
                actor=actor or self.actor,
                workflow_id=f"cohort-{self.cohort_id}",
                programme_id=self.programme.id,
                programme_version=self.programme.version,
                step=f"{step}/{self.steps}",
                correlation_id=self.cohort_id,
            ).model_dump()
            payloads = [e.payload() for e in chunk]
            result = await self.store.append(
                f"cohort-{self.cohort_id}",
                [NewEvent(e.TYPE, p, metadata, e.SCHEMA_VERSION) for e, p in zip(chunk, payloads, strict=True)],
                idempotency_key=f"cohort-{self.cohort_id}/{step}/{self.steps}",
            )
            for i, (event, payload) in enumerate(zip(chunk, payloads, strict=True)):
                position = result.first_position + i
                self.facts.apply(EventPayload(position, event.TYPE, payload))
                if event.TYPE in ("CreditAwarded", "CreditReversed"):
                    self.ledger.record(event)  # type: ignore[arg-type]
                positions.append(position)
        return positions

    async def award_credits(self, step: str) -> None:
        awards = list(credit_awards(self.facts, self.programme))
        if awards:
            await self.record(step, awards)


def phase_events(programme: Programme, started: datetime, phase: PhaseKind) -> tuple[PhaseOpened, PhaseClosed]:
    spec = programme.phase(phase)
    return (
        PhaseOpened(phase=phase, deadline=started + timedelta(days=spec.end_day)),
        PhaseClosed(phase=phase, closed_early=False),
    )


async def write_cohort(
    store: EventStore,
    cohort_id: str,
    *,
    candidates: int = 140,
    selected: int = 30,
    seed: int = 7,
    until: PhaseKind = "completion",
    programme: Programme | None = None,
    started: datetime = datetime(2025, 3, 1, tzinfo=UTC),
) -> CohortWriter:
    """A cohort run from its start through phase ``until`` (that phase's events included)."""
    programme = programme or sample_programme(candidates, selected)
    w = CohortWriter(store, cohort_id, programme)

    def reached(phase: PhaseKind) -> bool:
        return PHASE_ORDER.index(phase) <= PHASE_ORDER.index(until)

    start = CohortStarted(
        cohort_id=cohort_id,
        programme_id=programme.id,
        programme_version=programme.version,
        programme_digest=programme.digest,
        programme=programme.template(),  # as the activity records it: digested, it is the programme's digest
        started_at=started,
        day_seconds=86400.0,
    )
    opened, closed = phase_events(programme, started, "nomination")
    await w.record("start", [start, opened])
    people = nominees(programme, seed)
    keys = await store.person_keys()
    await w.record(
        "nomination",
        [
            CandidateNominated(
                participant_id=n.participant_id,
                person_key=keys.of(n.national_id),
                name=n.name,
                national_id=n.national_id,
                gender="M" if n.gender == "M" else "F",
                prefecture_code=n.prefecture_code,
                school=n.school,
                role=n.role,
            )
            for n in people
        ],
    )
    await w.record("nomination-closed", [closed])
    await _noise(store, cohort_id, programme)
    if not reached("online_study"):
        return w

    opened, closed = phase_events(programme, started, "online_study")
    await w.record("online-opened", [opened])
    study: list[Event] = []
    for i, n in enumerate(people):
        pid = n.participant_id
        hours, delivered = online_study(pid, seed)
        if i % 10 == 1:
            continue  # never studied
        if i % 10 == 2:  # the platform reports running totals, deliverables one by one
            study.append(StudyHoursRecorded(participant_id=pid, hours=round(hours / 2, 1)))
            study.extend(DeliverableSubmitted(participant_id=pid, deliverable=d) for d in delivered)
            study.append(StudyHoursRecorded(participant_id=pid, hours=hours))
            if delivered:
                study.append(DeliverableSubmitted(participant_id=pid, deliverable=delivered[0]))  # sent twice
        else:
            study.append(OnlineStudyRecorded(participant_id=pid, hours=hours, deliverables=delivered))
    await w.record("study", study)
    corrections: list[Event] = [
        FactCorrected(
            participant_id=people[3].participant_id, field="hours", previous=0, value=99.5, reason="平台漏记"
        ),
        FactCorrected(participant_id=people[4].participant_id, field="hours", previous=0, value=180, reason="补录"),
        FactCorrected(participant_id=people[5].participant_id, field="name", previous="", value="李明", reason="更名"),
        FactCorrected(
            participant_id=people[6].participant_id, field="school", previous="", value="长沙一中", reason="调动"
        ),
    ]
    await w.record("corrections", corrections, actor="admin:zhang")
    online = programme.phase("online_study")
    await w.record(
        "extend",
        [
            DeadlineExtended(
                phase="online_study",
                previous_deadline=started + timedelta(days=online.end_day),
                new_deadline=started + timedelta(days=online.end_day + 7),
                reason="平台故障",
            )
        ],
        actor="admin:zhang",
    )
    await w.record("online-closed", [closed])
    await w.award_credits("credits-online")
    if not reached("selection"):
        return w

    opened, closed = phase_events(programme, started, "selection")
    await w.record("selection-opened", [opened])
    candidates_ = [
        Candidate(p.participant_id, p.prefecture_code, p.hours, p.deliverables)
        for p in w.facts.participants.values()
        if not p.withdrawn
    ]
    outcome = select(candidates_, programme)
    await w.record(
        "selection",
        [
            SelectionDecided(
                rule_version=programme.selection.version,
                target=programme.selection.target,
                input_digest=outcome.input_digest,
                eligible=outcome.eligible,
                selected=list(outcome.selected),
                waiting_list=list(outcome.waiting_list),
            )
        ],
    )
    # One leaves and is replaced from the waiting list; one leaves, and the place is filled later.
    leaving = list(w.facts.selected)
    await w.record("withdraw-1", decide_withdrawal(w.facts, programme, "selection", leaving[0], "生病"))
    await w.record("withdraw-2", [ParticipantWithdrawn(participant_id=leaving[1], reason="调离", phase="selection")])
    await w.record("fill-place", [decide_fill_place(w.facts, programme, "selection", None)])
    not_chosen = next(pid for pid in w.facts.participants if pid not in w.facts.selected)
    await w.record("withdraw-3", decide_withdrawal(w.facts, programme, "selection", not_chosen, "退休"))
    await w.record("selection-closed", [closed])
    if not reached("field_study"):
        return w

    opened, closed = phase_events(programme, started, "field_study")
    await w.record("field-opened", [opened])
    placements = allocate(list(w.facts.selected), programme.field_study)
    await w.record("placements", placements)
    days = {(s.code, b.code): b.days for s in programme.field_study.sites for b in s.batches}
    records: list[Event] = [
        FieldAttendanceRecorded(
            participant_id=p.participant_id,
            site=p.site,
            batch=p.batch,
            days_present=attendance(p.participant_id, seed, days[(p.site, p.batch)]),
            days_total=days[(p.site, p.batch)],
        )
        for p in placements
    ]
    await w.record("attendance", records)
    first = placements[0].participant_id
    await w.record(
        "attendance-fix",
        [FactCorrected(participant_id=first, field="days_present", previous=0, value=1, reason="缺勤核实")],
        actor="admin:li",
    )
    batches = {(p.site, p.batch) for p in placements}
    await w.record(
        "batches",
        [
            FieldBatchCompleted(
                site=site,
                batch=batch,
                participants=sum((p.site, p.batch) == (site, batch) for p in placements),
                attended=0,
            )
            for site, batch in sorted(batches)
        ],
    )
    await w.record("field-closed", [closed])
    await w.award_credits("credits-field")
    if not reached("return_to_post"):
        return w

    opened, closed = phase_events(programme, started, "return_to_post")
    await w.record("return-opened", [opened])
    reports = [ReturnReportSubmitted(participant_id=pid) for pid in w.facts.selected if returns_report(pid, seed)]
    await w.record("reports", reports)
    await w.record("return-closed", [closed])
    await w.award_credits("credits-return")
    if not reached("follow_up"):
        return w

    opened, closed = phase_events(programme, started, "follow_up")
    await w.record("follow-opened", [opened])
    answers: list[Event] = []
    for survey in programme.follow_up:
        for pid in w.facts.selected:
            answer = survey_answer(pid, seed, survey.code)
            if answer is not None:
                answers.append(SurveyResponded(participant_id=pid, survey=survey.code, satisfaction=answer))
    await w.record("surveys", answers)
    await w.record("follow-closed", [closed])
    await w.award_credits("credits-follow")
    wrong = w.ledger.entries[0]
    await w.record(
        "reverse", [w.ledger.reverse(wrong.entry_id, "重复认定", f"{wrong.entry_id}/reversal")], actor="admin:zhang"
    )
    if not reached("completion"):
        return w

    opened, closed = phase_events(programme, started, "completion")
    await w.record("completion-opened", [opened])
    done = completers(w.facts, programme)
    await w.record("completers", [ParticipantCompleted(participant_id=pid) for pid in done])
    await w.award_credits("credits-completion")
    await w.record(
        "cohort-completed",
        [CohortCompleted(completed=len(done), credit_hours=w.ledger.grand_total())],
    )
    await w.record("completion-closed", [closed])
    return w


async def _noise(store: EventStore, cohort_id: str, programme: Programme) -> None:
    """Events of other streams, which the read models must pass over."""
    submitted = ProgrammeVersionSubmitted(
        programme_id=programme.id,
        version=programme.version,
        digest=programme.digest,
        template=programme.model_dump(mode="json"),
    )
    await store.append(
        f"programme-{programme.id}-{cohort_id}",
        [NewEvent(submitted.TYPE, submitted.payload(), {"actor": "admin"})],
        idempotency_key=f"programme/{cohort_id}",
    )
    query = AuditQueried(query="as_of", params={"cohort": cohort_id}, outcome="ok")
    await store.append(
        "audit", [NewEvent(query.TYPE, query.payload(), {"actor": "auditor"})], idempotency_key=f"audit/{cohort_id}"
    )


@asynccontextmanager
async def projected(postgres: EmbeddedPostgres, *seeds: tuple[str, int]) -> AsyncIterator[EventStore]:
    """A store of its own holding finished cohorts (id, seed), projected."""
    store = await EventStore.connect(fresh_database(postgres))
    try:
        for month, (cohort_id, seed) in enumerate(seeds, start=3):
            await write_cohort(store, cohort_id, seed=seed, started=datetime(2025, month, 1, tzinfo=UTC))
        await Projector(store).catch_up()
        yield store
    finally:
        await store.close()
