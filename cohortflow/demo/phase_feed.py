"""A seven-phase cohort, as the feeder sees it: its open phase, and the files each phase takes.

The province-wide sample population (:mod:`cohortflow.demo.sample`) arrives as
the files its offices would send: the nomination sheet while nomination is
open, study hours and deliverables during online study, attendance once the
field-study placements are made, return reports, and every survey's answers
when follow-up opens. Each file is generated from the cohort's facts as they
are, so withdrawals and the selection decide who appears in it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from temporalio.client import Client

from cohortflow.activities.field_study import PLACEMENTS_STEP
from cohortflow.demo import sample
from cohortflow.demo.csv_files import File, csv_file, nominee_cells
from cohortflow.demo.feeding import POLL_SECONDS, FeedRefused, Progress, query_status
from cohortflow.domain.facts import CohortFacts, ParticipantFacts
from cohortflow.domain.programme import Programme
from cohortflow.readmodels.cohort_facts import cohort_facts
from cohortflow.store.eventstore import EventStore
from cohortflow.workflows.cohort_cycle import CycleStatus, workflow_id

PLACEMENT_WAIT_SECONDS = 300.0
"""How long attendance waits for the field-study placements, which the cohort makes as the phase opens."""


@dataclass
class PhaseFeed:
    client: Client
    store: EventStore
    cohort_id: str
    programme: Programme
    seed: int
    scoped: bool = False

    async def status(self) -> CycleStatus:
        return CycleStatus.model_validate(await query_status(self.client, self.cohort_id))

    async def progress(self) -> Progress:
        status = await self.status()
        return Progress(open=(status.phase,) if status.phase else (), next_at=status.deadline, finished=status.finished)

    async def files(self, step: str) -> Sequence[File]:
        if step == "nomination":
            return [nominees(self.programme, self.seed)]
        if step == "online_study":
            return online_study(self._active(await self._facts()), self.seed)
        if step == "field_study":
            return attendance(self.programme, await self._placed(), self.seed)
        if step == "return_to_post":
            return return_reports(await self._facts(), self.seed)
        if step == "follow_up":
            return survey_answers(self.programme, await self._facts(), self.seed)
        return []  # selection and completion are the cohort's own decisions

    async def _facts(self) -> CohortFacts:
        return await cohort_facts(self.store, self.cohort_id)

    @staticmethod
    def _active(facts: CohortFacts) -> list[ParticipantFacts]:
        return [p for p in facts.participants.values() if not p.withdrawn]

    async def _placed(self) -> CohortFacts:
        """The facts once the cohort has recorded its placements (it makes them as the phase opens)."""
        facts = await self._facts()
        if not facts.active_selected():
            return facts  # nobody to place: no placements will be recorded
        key = f"{workflow_id(self.cohort_id)}/{PLACEMENTS_STEP}"
        waited = 0.0
        while await self.store.recorded(key) is None:  # one indexed lookup, not a fold of the whole cohort
            if waited > PLACEMENT_WAIT_SECONDS:
                raise FeedRefused(f"field_study: nobody was placed within {PLACEMENT_WAIT_SECONDS:.0f} s")
            await asyncio.sleep(POLL_SECONDS)
            waited += POLL_SECONDS
        return await self._facts()


def nominees(programme: Programme, seed: int) -> File:
    """The nomination sheet: everyone the prefectures nominate, exactly filling each quota."""
    return csv_file(
        "nominees",
        [nominee_cells(row) for row in sample.nominees(programme, seed)],
    )


def online_study(people: list[ParticipantFacts], seed: int) -> list[File]:
    """The study platform's hours and the deliverables handed in."""
    hours, handed = [], []
    for p in people:
        studied, delivered = sample.online_study(p.participant_id, seed)
        hours.append({"participant_id": p.participant_id, "hours": studied})
        handed += [{"participant_id": p.participant_id, "deliverable": code} for code in delivered]
    return [csv_file("study_records", hours), *([csv_file("deliverables", handed)] if handed else [])]


def attendance(programme: Programme, facts: CohortFacts, seed: int) -> list[File]:
    """Each site's register: days present in the participant's batch."""
    days = {(s.code, b.code): b.days for s in programme.field_study.sites for b in s.batches}
    rows = []
    for p in facts.active_selected():
        assert p.site is not None and p.batch is not None
        total = days[(p.site, p.batch)]
        rows.append(
            {
                "participant_id": p.participant_id,
                "days_present": sample.attendance(p.participant_id, seed, total),
                "site": p.site,
                "batch": p.batch,
            }
        )
    return [csv_file("attendance", rows)] if rows else []


def return_reports(facts: CohortFacts, seed: int) -> list[File]:
    """Who handed in a return-to-post report (most do)."""
    rows = [
        {"participant_id": p.participant_id}
        for p in facts.active_selected()
        if not p.withdrawn and sample.returns_report(p.participant_id, seed)
    ]
    return [csv_file("return_reports", rows)] if rows else []


def survey_answers(programme: Programme, facts: CohortFacts, seed: int) -> list[File]:
    """Every follow-up survey's answers (a few people never answer one)."""
    rows = []
    for survey in programme.follow_up:
        for p in facts.active_selected():
            answer = sample.survey_answer(p.participant_id, seed, survey.code)
            if not p.withdrawn and answer is not None:
                rows.append({"participant_id": p.participant_id, "survey": survey.code, "satisfaction": answer})
    return [csv_file("follow_up", rows)] if rows else []
