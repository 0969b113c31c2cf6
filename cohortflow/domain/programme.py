"""Programme templates: validated, versioned data that drive a cohort.

Pydantic checks the shape; :func:`programme_problems` checks the meaning, and
lists every problem at once so an administrator can fix a template in one pass.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cohortflow.domain.blocks.common import CreditLevel
from cohortflow.domain.blocks.online_study import Deliverable
from cohortflow.domain.blocks.residential_study import Site
from cohortflow.domain.blocks.selection import SelectionRule as RankingRule
from cohortflow.domain.canonical import digest
from cohortflow.domain.codes import duplicates, listed_twice
from cohortflow.domain.phases import PHASE_ORDER as PHASE_ORDER
from cohortflow.domain.phases import PhaseKind as PhaseKind
from cohortflow.domain.reminder_rules import ProgrammeFacts, ReminderRule, Reminders, reminder_problems

CREDITABLE_PHASES: tuple[PhaseKind, ...] = (
    "online_study",
    "field_study",
    "return_to_post",
    "follow_up",
    "completion",
)
M = TypeVar("M", bound=BaseModel)
ProgrammeKind = Literal["qualification", "improvement", "advanced", "thematic"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Phase(_Frozen):
    kind: PhaseKind
    start_day: int
    end_day: int


class Prefecture(_Frozen):
    code: str = Field(description="Six-digit administrative division code")
    name: str
    quota: int = Field(description="Maximum nominations from this prefecture")
    min_selected: int = 0
    max_selected: int | None = None


class OnlineRequirement(_Frozen):
    min_hours: float
    required_deliverables: tuple[str, ...] = ()


class SelectionRule(RankingRule):
    """The ranking rule, and until when a withdrawn place is refilled; only candidates meeting the online
    requirement are ranked."""

    replace_until: PhaseKind = Field(
        default="field_study",
        description="Withdrawn places are refilled from the waiting list before this phase opens",
    )


class FieldStudy(_Frozen):
    sites: tuple[Site, ...]
    min_attendance_ratio: float = 0.8


class Survey(_Frozen):
    code: str
    after_days: int = Field(description="Days after the follow-up phase opens")


class CreditRule(_Frozen):
    phase: PhaseKind
    hours: float
    level: CreditLevel


class Programme(_Frozen):
    id: str
    version: int
    name: str
    kind: ProgrammeKind
    candidates: int = Field(description="Nominations expected; must equal the sum of quotas")
    phases: tuple[Phase, ...]
    prefectures: tuple[Prefecture, ...]
    deliverables: tuple[Deliverable, ...] = ()
    online: OnlineRequirement
    selection: SelectionRule
    field_study: FieldStudy
    follow_up: tuple[Survey, ...] = ()
    credits: tuple[CreditRule, ...] = ()
    reminders: Reminders | None = None

    def template(self) -> dict[str, Any]:
        """The template as recorded and digested: without reminders, no ``reminders`` key at all.

        So a template written before reminder rules existed is recorded, and digested, as it always was.
        """
        data = self.model_dump(mode="json")
        if data["reminders"] is None:
            del data["reminders"]
        return data

    @property
    def digest(self) -> str:
        return digest(self.template())

    def phase(self, kind: PhaseKind) -> Phase:
        for phase in self.phases:
            if phase.kind == kind:
                return phase
        raise KeyError(kind)

    def reminder_rule(self, code: str) -> ReminderRule:
        for rule in self.reminders.rules if self.reminders else ():
            if rule.code == code:
                return rule
        raise KeyError(f"programme {self.id} v{self.version} has no reminder rule {code!r}")

    def prefecture(self, code: str) -> Prefecture | None:
        return next((p for p in self.prefectures if p.code == code), None)


class ProgrammeInvalid(ValueError):
    """A template that cannot run; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("programme template is invalid:\n- " + "\n- ".join(problems))


def shaped(model: type[M], data: object) -> M:
    """``data`` as a ``model``, or :class:`ProgrammeInvalid` naming every field of the wrong shape."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ProgrammeInvalid([f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]) from None


def parse_programme(data: object) -> Programme:
    """Parse and check a template; raise :class:`ProgrammeInvalid` listing all problems."""
    programme = shaped(Programme, data)
    problems = programme_problems(programme)
    if problems:
        raise ProgrammeInvalid(problems)
    return programme


def programme_problems(p: Programme) -> list[str]:
    return [
        *_phase_problems(p),
        *_quota_problems(p),
        *_hour_problems(p),
        *_deliverable_problems(p),
        *_field_study_problems(p),
        *_misc_problems(p),
        *_reminder_problems(p),
    ]


def _phase_problems(p: Programme) -> Iterator[str]:
    kinds = [ph.kind for ph in p.phases]
    if kinds != list(PHASE_ORDER):
        yield f"phases must be exactly {', '.join(PHASE_ORDER)} in that order, got {', '.join(kinds)}"
    for ph in p.phases:
        if ph.start_day < 0 or ph.end_day <= ph.start_day:
            yield f"phase {ph.kind}: end_day {ph.end_day} must come after start_day {ph.start_day} (≥ 0)"
    for prev, nxt in zip(p.phases, p.phases[1:], strict=False):
        if nxt.start_day < prev.end_day:
            yield (
                f"phases {prev.kind} and {nxt.kind} overlap: {nxt.kind} starts on day "
                f"{nxt.start_day} before {prev.kind} ends on day {prev.end_day}"
            )


def _quota_problems(p: Programme) -> Iterator[str]:
    total = sum(pref.quota for pref in p.prefectures)
    if total != p.candidates:
        yield f"prefecture quotas add up to {total}, but candidates is {p.candidates}"
    yield from listed_twice("prefecture", [pref.code for pref in p.prefectures])
    for pref in p.prefectures:
        if not (len(pref.code) == 6 and pref.code.isdigit()):
            yield f"prefecture {pref.name}: code {pref.code!r} is not a six-digit division code"
        if pref.quota <= 0:
            yield f"prefecture {pref.code}: quota must be positive, got {pref.quota}"
        if pref.min_selected < 0:
            yield f"prefecture {pref.code}: min_selected must not be negative"
        if pref.max_selected is not None and pref.max_selected < pref.min_selected:
            yield f"prefecture {pref.code}: max_selected {pref.max_selected} is below min_selected {pref.min_selected}"
        if pref.min_selected > pref.quota:
            yield f"prefecture {pref.code}: min_selected {pref.min_selected} exceeds its quota {pref.quota}"
    rule = p.selection
    if rule.target <= 0:
        yield f"selection target must be positive, got {rule.target}"
    if rule.target > p.candidates:
        yield f"selection target {rule.target} is above the number of candidates {p.candidates}"
    if rule.waiting_list < 0:
        yield "selection waiting_list must not be negative"
    minimums = sum(pref.min_selected for pref in p.prefectures)
    if minimums > rule.target:
        yield f"prefecture minimums add up to {minimums}, above the selection target {rule.target}"
    caps = [pref.max_selected for pref in p.prefectures]
    if all(c is not None for c in caps) and sum(c or 0 for c in caps) < rule.target:
        yield f"prefecture caps add up to {sum(c or 0 for c in caps)}, below the selection target {rule.target}"


def _hour_problems(p: Programme) -> Iterator[str]:
    if p.online.min_hours < 0:
        yield f"online.min_hours must not be negative, got {p.online.min_hours}"
    if p.selection.hours_cap is not None and p.selection.hours_cap < 0:
        yield "selection.hours_cap must not be negative"
    for i, credit in enumerate(p.credits):
        if credit.hours < 0:
            yield f"credits[{i}] ({credit.phase}): hours must not be negative, got {credit.hours}"


def _deliverable_problems(p: Programme) -> Iterator[str]:
    known = {d.code for d in p.deliverables}
    for code in p.online.required_deliverables:
        if code not in known:
            yield f"online.required_deliverables names unknown deliverable {code!r}"


def _field_study_problems(p: Programme) -> Iterator[str]:
    fs = p.field_study
    if not fs.sites:
        yield "field_study needs at least one site"
    capacity = sum(b.capacity for s in fs.sites for b in s.batches)
    if capacity < p.selection.target:
        yield f"field-study batches hold {capacity} people, fewer than the selection target {p.selection.target}"
    if not 0 <= fs.min_attendance_ratio <= 1:
        yield "field_study.min_attendance_ratio must be between 0 and 1"
    length = _phase_length(p, "field_study")
    for site in fs.sites:
        if not site.batches:
            yield f"site {site.code} has no batches"
        for b in site.batches:
            if b.capacity <= 0 or b.days <= 0 or b.start_day < 0:
                yield f"site {site.code} batch {b.code}: capacity and days must be positive"
            elif length is not None and b.start_day + b.days > length:
                yield f"site {site.code} batch {b.code} runs past the end of the field-study phase"
        ends = sorted((b.start_day, b.start_day + b.days, b.code) for b in site.batches)
        for (_, end, code), (start, _, nxt) in itertools.combinations(ends, 2):
            if start < end:
                yield f"site {site.code}: batches {code} and {nxt} overlap"


def _misc_problems(p: Programme) -> Iterator[str]:
    length = _phase_length(p, "follow_up")
    for s in p.follow_up:
        if s.after_days < 0 or (length is not None and s.after_days > length):
            yield f"follow-up survey {s.code}: after_days {s.after_days} falls outside the follow-up phase"
    yield from listed_twice("follow-up survey", [s.code for s in p.follow_up])
    for phase in duplicates(c.phase for c in p.credits):
        yield f"credits: phase {phase} is listed more than once; one phase grants credits at one level"
    for i, credit in enumerate(p.credits):
        if credit.phase not in CREDITABLE_PHASES:
            yield f"credits[{i}]: phase {credit.phase} grants no credits; use one of {', '.join(CREDITABLE_PHASES)}"
    if p.version < 1:
        yield "version must be 1 or more"
    if "\\u0000" in p.model_dump_json():
        yield "the template contains a NUL character (U+0000), which cannot be recorded"


def _reminder_problems(p: Programme) -> Iterator[str]:
    if p.reminders is None:
        return
    facts = ProgrammeFacts(
        phase_days={ph.kind: (ph.start_day, ph.end_day) for ph in p.phases},
        deliverables={d.code for d in p.deliverables},
        surveys={s.code: s.after_days for s in p.follow_up},
        prefectures={pref.code for pref in p.prefectures},
    )
    yield from reminder_problems(p.reminders, facts)


def _phase_length(p: Programme, kind: PhaseKind) -> int | None:
    try:
        phase = p.phase(kind)
    except KeyError:
        return None
    return phase.end_day - phase.start_day
