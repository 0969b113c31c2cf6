"""A block template's cohort: its start, and each block opening and closing with what the block decides then.

A selection block decides at its opening, per track; a completion block
decides who completed; every block that grants credits awards them at its
close to everyone it was for who met its criterion. Each step is recorded
once, keyed by the block and the action, so a retry decides nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from temporalio import activity

from cohortflow.activities.base import CohortActivities, CohortRef, refusals_are_final
from cohortflow.domain.block_progress import completion, credit_awards, replacement, selections
from cohortflow.domain.blocks.completion import Completion
from cohortflow.domain.blocks.selection import Selection
from cohortflow.domain.cycle import CommandRefused
from cohortflow.domain.events import (
    BlockClosed,
    BlockOpened,
    CohortCompleted,
    CohortStarted,
    CreditAwarded,
    Event,
    ParticipantWithdrawn,
    SelectionDecided,
    WaitingListPromoted,
)
from cohortflow.domain.phrases import phrase
from cohortflow.domain.template import ProgrammeTemplate
from cohortflow.store.errors import ExpectedVersionMismatch


class RecordBlockCohortStarted(BaseModel):
    ref: CohortRef
    template: ProgrammeTemplate
    started_at: datetime
    day_seconds: float


class RunBlockStep(BaseModel):
    ref: CohortRef
    block: str
    action: Literal["open", "close"]
    closes_at: datetime
    at: datetime | None = None
    """When the step runs; the block's scheduled day if not given."""
    reason: str = ""
    """Why an administrator closed the block early; empty when it closed on its day."""


class WithdrawFromBlocks(BaseModel):
    ref: CohortRef
    request_id: str
    """The admin request's id (the Update id): the idempotency step of this withdrawal."""
    participant_id: str
    reason: str
    open_blocks: list[str]
    opened: list[str] = []
    """Every block opened so far: a selection refills places until its ``replace_until`` block opens."""


class WithdrawalOutcome(BaseModel):
    replaced_by: str | None = None


class BlockStepResult(BaseModel):
    selected: int = 0
    credit_entries: int = 0
    completed: int | None = None
    credit_hours: float | None = None


class BlockActivities(CohortActivities):
    @activity.defn
    @refusals_are_final
    async def record_block_cohort_started(self, req: RecordBlockCohortStarted) -> int:
        """Open the cohort's stream; a second cohort with the same id is refused."""
        template = req.template
        event = CohortStarted(
            cohort_id=req.ref.cohort_id,
            programme_id=template.id,
            programme_version=template.version,
            programme_digest=template.digest,
            programme=template.template(),
            started_at=req.started_at,
            day_seconds=req.day_seconds,
        )
        try:
            result = await self.append(req.ref, "started", [event], programme=template, expected_version=0)
        except ExpectedVersionMismatch:
            raise CommandRefused(phrase("cohort {cohort_id} already exists", cohort_id=req.ref.cohort_id)) from None
        return result.last_position

    @activity.defn
    @refusals_are_final
    async def withdraw_from_blocks(self, req: WithdrawFromBlocks) -> WithdrawalOutcome:
        template = await self.template(req.ref)

        async def decide() -> list[Event]:
            facts = await self.facts(req.ref)
            p = facts.participants.get(req.participant_id)
            if p is None:
                raise CommandRefused(
                    phrase(
                        "unknown participant {participant_id} in this cohort", participant_id=repr(req.participant_id)
                    )
                )
            if p.withdrawn:
                raise CommandRefused(
                    phrase("{participant_id} has already withdrawn", participant_id=req.participant_id)
                )
            phase = ", ".join(req.open_blocks)
            events: list[Event] = [
                ParticipantWithdrawn(participant_id=req.participant_id, reason=req.reason, phase=phase)
            ]
            promoted = replacement(template, facts, req.participant_id, req.opened)
            if promoted is not None:
                events.append(WaitingListPromoted(participant_id=promoted, replaces=req.participant_id))
            return events

        events = await self.decide_once(req.ref, f"withdraw/{req.request_id}", decide, programme=template)
        promoted = next((e.participant_id for e in events if isinstance(e, WaitingListPromoted)), None)
        return WithdrawalOutcome(replaced_by=promoted)

    @activity.defn
    @refusals_are_final
    async def run_block_step(self, req: RunBlockStep) -> BlockStepResult:
        template = await self.template(req.ref)
        block = template.block(req.block)
        if block is None:
            raise CommandRefused(phrase("the programme has no block {block}", block=req.block))

        async def decide() -> list[Event]:
            facts = await self.facts(req.ref)
            if req.action == "open":
                events: list[Event] = [BlockOpened(block=block.code, closes_at=req.closes_at)]
                if isinstance(block, Selection):
                    events += selections(template, facts, block)
                if isinstance(block, Completion):
                    events += completion(template, facts, block, req.at or req.closes_at)
                return events
            earned_at = req.at or req.closes_at
            awards = [] if isinstance(block, Completion) else list(credit_awards(template, facts, block, earned_at))
            closed = BlockClosed(block=block.code, closed_early=bool(req.reason), reason=req.reason)
            return [*awards, closed]

        events = await self.decide_once(req.ref, f"block/{block.code}/{req.action}", decide, programme=template)
        result = BlockStepResult(
            selected=sum(len(e.selected) for e in events if isinstance(e, SelectionDecided)),
            credit_entries=sum(isinstance(e, CreditAwarded) for e in events),
        )
        for e in events:
            if isinstance(e, CohortCompleted):
                result.completed, result.credit_hours = e.completed, e.credit_hours
        return result
