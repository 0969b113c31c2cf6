"""The calendar of a block template's cohort: each block opens on its start day and closes on its end day.

The cycle is a list of steps (open or close a block) in time order; the state
is which steps are done and which blocks an administrator has asked to close
early. Several blocks may be open at once (tracks run side by side); on a
day where one block ends and another starts, the first closes before the next
opens, so a block that names another (completion, selection) sees it closed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from cohortflow.domain.cycle import CommandRefused, extension_used
from cohortflow.domain.events import BlockExtended
from cohortflow.domain.phrases import phrase
from cohortflow.domain.template import ProgrammeTemplate

Action = Literal["open", "close"]


class Step(NamedTuple):
    day: int
    action: Action
    block: str

    @property
    def key(self) -> str:
        return f"{self.action}:{self.block}"


def timeline(template: ProgrammeTemplate) -> list[Step]:
    """Every step of the cycle, in the order it runs."""
    order = {b.code: i for i, b in enumerate(template.stages)}
    steps = [Step(b.start_day, "open", b.code) for b in template.stages]
    steps += [Step(b.end_day, "close", b.code) for b in template.stages]
    return sorted(steps, key=lambda s: (s.day, s.action == "open", order[s.block]))


class BlockCycleState(BaseModel):
    model_config = ConfigDict(frozen=True)

    started_at: datetime
    day_seconds: float
    done: tuple[str, ...] = ()
    """Keys of the steps already run."""
    closing: dict[str, str] = Field(default_factory=dict)
    """Blocks an administrator asked to close now, with the reason."""
    closed_at: dict[str, datetime] = Field(default_factory=dict)
    """When each closed block closed: reminders after a close count from it."""
    extensions: tuple[tuple[int, float], ...] = ()
    """``(day, seconds)``: an extended block's close and every step on or after its day moved back by as much."""

    def day(self, n: float) -> timedelta:
        return timedelta(seconds=n * self.day_seconds)

    def _on(self, day: int) -> datetime:
        """The moment of a template day, after the extensions that move it."""
        moved = sum(seconds for since, seconds in self.extensions if day >= since)
        return self.started_at + self.day(day) + timedelta(seconds=moved)

    def at(self, step: Step) -> datetime:
        return self._on(step.day)

    def is_open(self, block: str) -> bool:
        return f"open:{block}" in self.done and f"close:{block}" not in self.done

    def opened(self) -> list[str]:
        """Every block opened so far, closed or not."""
        return [key.removeprefix("open:") for key in self.done if key.startswith("open:")]

    def open_blocks(self, template: ProgrammeTemplate) -> list[str]:
        return [b.code for b in template.stages if self.is_open(b.code)]

    def next_step(self, template: ProgrammeTemplate) -> Step | None:
        """An early close asked for comes first; otherwise the first step not yet run."""
        steps = [s for s in timeline(template) if s.key not in self.done]
        early = [s for s in steps if s.action == "close" and s.block in self.closing and self.is_open(s.block)]
        first = early or steps
        return first[0] if first else None

    def finished(self, template: ProgrammeTemplate) -> bool:
        return self.next_step(template) is None

    def ran(self, step: Step, at: datetime) -> BlockCycleState:
        """The state once ``step`` has run, at ``at``.

        A block closed early keeps only the part of its extensions it used: extended for
        late files and closed once they are in, it does not hold the rest of the programme back.
        """
        early = step.action == "close" and step.block in self.closing
        closing = {k: v for k, v in self.closing.items() if not (step.action == "close" and k == step.block)}
        closed_at = {**self.closed_at, step.block: at} if step.action == "close" else self.closed_at
        extensions = self._used(step.day, at) if early else self.extensions
        update = {"done": (*self.done, step.key), "closing": closing, "closed_at": closed_at, "extensions": extensions}
        return self.model_copy(update=update)

    def _used(self, day: int, closed: datetime) -> tuple[tuple[int, float], ...]:
        """The extensions with those from ``day`` cut to what a close at ``closed`` used of them."""
        others = tuple((since, seconds) for since, seconds in self.extensions if since != day)
        planned = self.model_copy(update={"extensions": others})._on(day)
        granted = sum(seconds for since, seconds in self.extensions if since == day)
        used = extension_used(granted, planned, closed)
        return (*others, (day, used)) if used else others

    def opens_at(self, template: ProgrammeTemplate, block: str) -> datetime:
        found = template.block(block)
        assert found is not None
        return self._on(found.start_day)

    def closes_at(self, template: ProgrammeTemplate, block: str) -> datetime:
        found = template.block(block)
        assert found is not None
        return self._on(found.end_day)


def decide_extend_block(
    state: BlockCycleState, template: ProgrammeTemplate, block: str, new_close: datetime, reason: str
) -> tuple[BlockCycleState, BlockExtended]:
    """Move an open block's close later; every step on or after its day moves back by as much."""
    if not reason.strip():
        raise CommandRefused(phrase("an extension needs a reason"))
    if not state.is_open(block):
        open_now = ", ".join(state.open_blocks(template)) or phrase("none")
        raise CommandRefused(phrase("block {block} is not open (open now: {open_now})", block=block, open_now=open_now))
    if block in state.closing:
        raise CommandRefused(phrase("block {block} is being closed early; its close no longer applies", block=block))
    current = state.closes_at(template, block)
    if new_close <= current:
        raise CommandRefused(
            phrase(
                "the new close {new} is not after the current one {current}",
                new=new_close.isoformat(),
                current=current.isoformat(),
            )
        )
    found = template.block(block)
    assert found is not None
    extra = (new_close - current).total_seconds()
    extended = state.model_copy(update={"extensions": (*state.extensions, (found.end_day, extra))})
    return extended, BlockExtended(block=block, previous_close=current, new_close=new_close, reason=reason)


def decide_close_block(state: BlockCycleState, template: ProgrammeTemplate, block: str, reason: str) -> BlockCycleState:
    """Ask for an open block to close now; it must be open, and a reason is recorded."""
    if not reason.strip():
        raise CommandRefused(phrase("closing a block early needs a reason"))
    if block in state.closing:
        # Asked already: the cohort closes it at its next step, so a second request would only repeat the first.
        raise CommandRefused(
            phrase("block {block} is not open: it is closing ({reason})", block=block, reason=state.closing[block])
        )
    if not state.is_open(block):
        open_now = ", ".join(state.open_blocks(template)) or phrase("none")
        raise CommandRefused(phrase("block {block} is not open (open now: {open_now})", block=block, open_now=open_now))
    return state.model_copy(update={"closing": {**state.closing, block: reason}})


def import_block(state: BlockCycleState, template: ProgrammeTemplate, kind: str, block: str | None) -> str:
    """The open block a file of ``kind`` goes to: the one named, or the only open block that takes the kind."""
    open_now = state.open_blocks(template)
    takers = [code for code in open_now if (b := template.block(code)) is not None and b.intake(kind) is not None]
    listed = ", ".join(open_now) or phrase("none")
    if block is not None:
        found = template.block(block)
        if found is None:
            raise CommandRefused(phrase("the programme has no block {block}", block=block))
        if found.intake(kind) is None:
            raise CommandRefused(
                phrase(
                    "block {block} ({block_kind}) takes no {kind} files", block=block, block_kind=found.kind, kind=kind
                )
            )
        if block not in open_now:
            raise CommandRefused(
                phrase("block {block} is not open; the open blocks are: {listed}", block=block, listed=listed)
            )
        return block
    if not takers:
        raise CommandRefused(
            phrase("no open block takes {kind} files; the open blocks are: {listed}", kind=kind, listed=listed)
        )
    if len(takers) > 1:
        raise CommandRefused(
            phrase(
                "several open blocks take {kind} files ({takers}); name one with block=",
                kind=kind,
                takers=", ".join(takers),
            )
        )
    return takers[0]
