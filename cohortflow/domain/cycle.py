"""The cohort cycle as a small state machine: which phase is open, until when.

The cycle workflow keeps only this state (never a per-participant map), and the
admin commands that steer it are decided here, purely, so every refusal has one
place and one test.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from cohortflow.domain.events import DeadlineExtended, ImportKind, ParticipantWithdrawn, WaitingListPromoted
from cohortflow.domain.facts import CohortFacts
from cohortflow.domain.phrases import phrase
from cohortflow.domain.programme import PHASE_ORDER, PhaseKind, Programme
from cohortflow.domain.recordable import NUL, unrecordable


class CommandRefused(ValueError):
    """An admin command that cannot be carried out; the message says why."""


def extension_used(granted: float, planned: datetime, closed: datetime) -> float:
    """Seconds of an extension of ``granted`` seconds that a close at ``closed`` used, the close having been
    planned for ``planned``: extended for late files and closed once they are in, a phase or block holds the
    rest of the programme back by no more than that."""
    return min(granted, max(0.0, (closed - planned).total_seconds()))


class CycleState(BaseModel):
    model_config = ConfigDict(frozen=True)

    started_at: datetime
    day_seconds: float
    phase_index: int = 0
    shift_seconds: float = 0.0
    """Extensions granted in earlier phases; they push every later phase back by as much."""
    extension_seconds: float = 0.0
    """Extensions of the open phase: they move its deadline, not when it opened."""
    closed_early: bool = False
    closed_at: dict[PhaseKind, datetime] = Field(default_factory=dict)
    """When each past phase closed: what reminders "after a phase" count from."""

    @property
    def phase(self) -> PhaseKind:
        return PHASE_ORDER[self.phase_index]

    @property
    def finished(self) -> bool:
        return self.phase_index >= len(PHASE_ORDER)

    def _at(self, day: int) -> datetime:
        return self.started_at + timedelta(seconds=day * self.day_seconds + self.shift_seconds)

    def opens_at(self, programme: Programme) -> datetime:
        return self._at(programme.phase(self.phase).start_day)

    def deadline(self, programme: Programme) -> datetime:
        return self._at(programme.phase(self.phase).end_day) + timedelta(seconds=self.extension_seconds)

    def day(self, days: int) -> timedelta:
        return timedelta(seconds=days * self.day_seconds)

    def advanced(self, at: datetime, programme: Programme | None = None) -> CycleState:
        """The next phase; the open one closed ``at``.

        An extension pushes every later phase back by as much. Given the
        ``programme``, a phase closed early pushes them back only by the part of
        its extension it used: extended for late sheets and closed once they are
        in, it does not delay the rest of the programme by the whole extension.
        (Cohorts whose histories were recorded before this rule pass none.)
        """
        shift = self.extension_seconds
        if programme is not None and self.closed_early:
            shift = extension_used(shift, self._at(programme.phase(self.phase).end_day), at)
        return self.model_copy(
            update={
                "closed_at": {**self.closed_at, self.phase: at},
                "phase_index": self.phase_index + 1,
                "closed_early": False,
                "shift_seconds": self.shift_seconds + shift,
                "extension_seconds": 0.0,
            }
        )


def decide_close_phase(state: CycleState, phase: PhaseKind) -> CycleState:
    if state.finished:
        raise CommandRefused(phrase("the cohort has completed; no phase is open"))
    if phase != state.phase:
        raise CommandRefused(
            phrase("phase {phase} is not open; the open phase is {open}", phase=phase, open=state.phase)
        )
    if phase == "completion":
        raise CommandRefused(phrase("the completion phase closes by itself once credits are awarded"))
    if state.closed_early:
        raise CommandRefused(phrase("phase {phase} is already being closed", phase=phase))
    return state.model_copy(update={"closed_early": True})


def decide_extend_deadline(
    state: CycleState,
    programme: Programme,
    phase: PhaseKind,
    new_deadline: datetime,
    reason: str,
) -> tuple[CycleState, DeadlineExtended]:
    if state.finished:
        raise CommandRefused(phrase("the cohort has completed; there is no deadline to extend"))
    if phase != state.phase:
        raise CommandRefused(
            phrase(
                "only the open phase's deadline can be extended; {phase} is not open (the open phase is {open})",
                phase=phase,
                open=state.phase,
            )
        )
    if state.closed_early:
        raise CommandRefused(phrase("phase {phase} is being closed early; its deadline no longer applies", phase=phase))
    if not reason.strip():
        raise CommandRefused(phrase("an extension needs a reason"))
    current = state.deadline(programme)
    if new_deadline <= current:
        raise CommandRefused(
            phrase(
                "the new deadline {new} is not after the current one {current}",
                new=new_deadline.isoformat(),
                current=current.isoformat(),
            )
        )
    extra = (new_deadline - current).total_seconds()
    event = DeadlineExtended(phase=phase, previous_deadline=current, new_deadline=new_deadline, reason=reason)
    return state.model_copy(update={"extension_seconds": state.extension_seconds + extra}), event


def check_withdrawal_open(phase: PhaseKind | None, reason: str) -> None:
    """Refusals that need no facts: the workflow's validator answers them at once."""
    if not reason.strip():
        raise CommandRefused(phrase("a withdrawal needs a reason"))
    if phase is None or phase == "completion":
        raise CommandRefused(phrase("the cohort is completing; withdrawals are closed"))


def decide_withdrawal(
    facts: CohortFacts,
    programme: Programme,
    phase: PhaseKind,
    participant_id: str,
    reason: str,
) -> list[ParticipantWithdrawn | WaitingListPromoted]:
    """Withdraw a participant and, while the programme allows, refill the place."""
    check_withdrawal_open(phase, reason)
    p = facts.participants.get(participant_id)
    if p is None:
        raise CommandRefused(
            phrase("participant {participant_id} is not in this cohort", participant_id=participant_id)
        )
    if p.withdrawn:
        raise CommandRefused(
            phrase("participant {participant_id} has already been withdrawn", participant_id=participant_id)
        )
    events: list[ParticipantWithdrawn | WaitingListPromoted] = [
        ParticipantWithdrawn(participant_id=participant_id, reason=reason, phase=phase)
    ]
    refill_open = PHASE_ORDER.index(phase) < PHASE_ORDER.index(programme.selection.replace_until)
    if participant_id in facts.selected and refill_open:
        replacement = _next_from_waiting_list(facts, programme, leaving=participant_id)
        if replacement is not None:
            events.append(WaitingListPromoted(participant_id=replacement, replaces=participant_id))
    return events


def _next_from_waiting_list(facts: CohortFacts, programme: Programme, leaving: str) -> str | None:
    """The first waiting candidate whose prefecture stays within its cap."""
    counts: dict[str, int] = {}
    for pid in facts.selected:
        if pid != leaving:
            code = facts.participants[pid].prefecture_code
            counts[code] = counts.get(code, 0) + 1
    for pid in facts.waiting_list:
        p = facts.participants[pid]
        pref = programme.prefecture(p.prefecture_code)
        cap = pref.max_selected if pref else None
        if not p.withdrawn and (cap is None or counts.get(p.prefecture_code, 0) < cap):
            return pid
    return None


def decide_fill_place(
    facts: CohortFacts, programme: Programme, phase: PhaseKind, participant_id: str | None
) -> WaitingListPromoted:
    """Fill an open place (one left empty by a withdrawal) from the waiting list.

    Without ``participant_id`` the next eligible candidate on the list is taken;
    with one, that candidate must be on the list and fit its prefecture's cap.
    """
    if facts.selection_position is None:
        raise CommandRefused(phrase("no selection has been made yet; there is no waiting list"))
    if PHASE_ORDER.index(phase) >= PHASE_ORDER.index(programme.selection.replace_until):
        raise CommandRefused(
            phrase("places are filled only before {phase} opens", phase=programme.selection.replace_until)
        )
    open_places = programme.selection.target - len(facts.selected)
    if open_places <= 0:
        raise CommandRefused(phrase("all {target} places are taken", target=programme.selection.target))
    if participant_id is None:
        if not facts.waiting_list:
            raise CommandRefused(phrase("the waiting list is empty"))
        chosen = _next_from_waiting_list(facts, programme, leaving="")
        if chosen is None:
            raise CommandRefused(phrase("nobody on the waiting list fits a prefecture's cap"))
        return WaitingListPromoted(participant_id=chosen, replaces="")
    if participant_id not in facts.waiting_list:
        raise CommandRefused(
            phrase("participant {participant_id} is not on the waiting list", participant_id=participant_id)
        )
    p = facts.participants[participant_id]
    pref = programme.prefecture(p.prefecture_code)
    cap = pref.max_selected if pref else None
    taken = sum(facts.participants[pid].prefecture_code == p.prefecture_code for pid in facts.selected)
    if cap is not None and taken >= cap:
        raise CommandRefused(
            phrase(
                "prefecture {prefecture} already has its cap of {cap} selected", prefecture=p.prefecture_code, cap=cap
            )
        )
    return WaitingListPromoted(participant_id=participant_id, replaces="")


IMPORT_PHASES: dict[ImportKind, PhaseKind] = {
    "nominees": "nomination",
    "study_records": "online_study",
    "deliverables": "online_study",
    "attendance": "field_study",
    "return_reports": "return_to_post",
    "follow_up": "follow_up",
}


def check_import_open(phase: PhaseKind | None, kind: ImportKind) -> None:
    """A file is accepted only while the phase it belongs to is open."""
    expected = IMPORT_PHASES.get(kind)
    if expected is None:
        raise CommandRefused(
            phrase("a {kind} file belongs to a block template; this cohort runs the seven-phase form", kind=kind)
        )
    if phase != expected:
        if phase is None:
            raise CommandRefused(
                phrase(
                    "a {kind} file belongs to the {expected} phase; the cohort is finished",
                    kind=kind,
                    expected=expected,
                )
            )
        raise CommandRefused(
            phrase(
                "a {kind} file belongs to the {expected} phase; the cohort is in {phase}",
                kind=kind,
                expected=expected,
                phase=phase,
            )
        )


def check_recordable(fields: dict[str, object]) -> None:
    """Refuse text no event can hold (:mod:`cohortflow.domain.recordable`) before anything is decided or recorded."""
    for name, value in fields.items():
        code = unrecordable(value)
        if code == NUL:
            raise CommandRefused(
                phrase("{name} contains a NUL character (U+0000), which cannot be recorded", name=name)
            )
        if code is not None:
            raise CommandRefused(
                phrase("{name} contains a lone surrogate ({code}), which cannot be recorded", name=name, code=code)
            )
