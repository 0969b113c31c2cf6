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
from cohortflow.domain.phrases import in_lines, phrase
from cohortflow.domain.recordable import template_text_problems
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
        raise KeyError(no_reminder_rule(self.id, self.version, code))

    def prefecture(self, code: str) -> Prefecture | None:
        return next((p for p in self.prefectures if p.code == code), None)


def no_reminder_rule(programme_id: str, version: int, code: str) -> str:
    return phrase(
        "programme {programme_id} v{version} has no reminder rule {code}",
        programme_id=programme_id,
        version=version,
        code=repr(code),
    )


def prefecture_place(prefecture: str) -> str:
    """Where a problem of a prefecture (by its code or name) is."""
    return phrase("prefecture {prefecture}", prefecture=prefecture)


def not_a_division_code(name: str, code: str) -> str:
    """The problem of a prefecture (named ``name``) whose code is not a division code."""
    return phrase(
        "{where}: code {code} is not a six-digit division code", where=prefecture_place(name), code=repr(code)
    )


def quota_not_positive(where: str, quota: int) -> str:
    return phrase("{where}: quota must be positive, got {quota}", where=where, quota=quota)


def max_below_min(where: str, most: int, least: int) -> str:
    return phrase("{where}: max_selected {most} is below min_selected {least}", where=where, most=most, least=least)


class ProgrammeInvalid(ValueError):
    """A template that cannot run; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(phrase("programme template is invalid:\n- {problems}", problems=in_lines(problems)))


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
        yield phrase(
            "phases must be exactly {order} in that order, got {kinds}",
            order=", ".join(PHASE_ORDER),
            kinds=", ".join(kinds),
        )
    for ph in p.phases:
        if ph.start_day < 0 or ph.end_day <= ph.start_day:
            yield phrase(
                "phase {phase}: end_day {end_day} must come after start_day {start_day} (≥ 0)",
                phase=ph.kind,
                end_day=ph.end_day,
                start_day=ph.start_day,
            )
    for prev, nxt in zip(p.phases, p.phases[1:], strict=False):
        if nxt.start_day < prev.end_day:
            yield phrase(
                "phases {previous} and {next} overlap: "
                "{next} starts on day {start} before {previous} ends on day {end}",
                previous=prev.kind,
                next=nxt.kind,
                start=nxt.start_day,
                end=prev.end_day,
            )


def _quota_problems(p: Programme) -> Iterator[str]:
    total = sum(pref.quota for pref in p.prefectures)
    if total != p.candidates:
        yield phrase(
            "prefecture quotas add up to {total}, but candidates is {candidates}", total=total, candidates=p.candidates
        )
    yield from listed_twice(prefecture_place, [pref.code for pref in p.prefectures])
    for pref in p.prefectures:
        if not (len(pref.code) == 6 and pref.code.isdigit()):
            yield not_a_division_code(pref.name, pref.code)
        where = prefecture_place(pref.code)
        if pref.quota <= 0:
            yield quota_not_positive(where, pref.quota)
        if pref.min_selected < 0:
            yield phrase("{where}: min_selected must not be negative", where=where)
        if pref.max_selected is not None and pref.max_selected < pref.min_selected:
            yield max_below_min(where, pref.max_selected, pref.min_selected)
        if pref.min_selected > pref.quota:
            yield phrase(
                "{where}: min_selected {least} exceeds its quota {quota}",
                where=where,
                least=pref.min_selected,
                quota=pref.quota,
            )
    rule = p.selection
    if rule.target <= 0:
        yield phrase("selection target must be positive, got {target}", target=rule.target)
    if rule.target > p.candidates:
        yield phrase(
            "selection target {target} is above the number of candidates {candidates}",
            target=rule.target,
            candidates=p.candidates,
        )
    if rule.waiting_list < 0:
        yield phrase("selection waiting_list must not be negative")
    minimums = sum(pref.min_selected for pref in p.prefectures)
    if minimums > rule.target:
        yield phrase(
            "prefecture minimums add up to {minimums}, above the selection target {target}",
            minimums=minimums,
            target=rule.target,
        )
    caps = [pref.max_selected for pref in p.prefectures]
    if all(c is not None for c in caps) and sum(c or 0 for c in caps) < rule.target:
        yield phrase(
            "prefecture caps add up to {caps}, below the selection target {target}",
            caps=sum(c or 0 for c in caps),
            target=rule.target,
        )


def _hour_problems(p: Programme) -> Iterator[str]:
    if p.online.min_hours < 0:
        yield phrase("online.min_hours must not be negative, got {hours}", hours=p.online.min_hours)
    if p.selection.hours_cap is not None and p.selection.hours_cap < 0:
        yield phrase("selection.hours_cap must not be negative")
    for i, credit in enumerate(p.credits):
        if credit.hours < 0:
            yield phrase(
                "credits[{index}] ({phase}): hours must not be negative, got {hours}",
                index=i,
                phase=credit.phase,
                hours=credit.hours,
            )


def _deliverable_problems(p: Programme) -> Iterator[str]:
    known = {d.code for d in p.deliverables}
    for code in p.online.required_deliverables:
        if code not in known:
            yield phrase("online.required_deliverables names unknown deliverable {code}", code=repr(code))


def _field_study_problems(p: Programme) -> Iterator[str]:
    fs = p.field_study
    if not fs.sites:
        yield phrase("field_study needs at least one site")
    capacity = sum(b.capacity for s in fs.sites for b in s.batches)
    if capacity < p.selection.target:
        yield phrase(
            "field-study batches hold {capacity} people, fewer than the selection target {target}",
            capacity=capacity,
            target=p.selection.target,
        )
    if not 0 <= fs.min_attendance_ratio <= 1:
        yield phrase("field_study.min_attendance_ratio must be between 0 and 1")
    length = _phase_length(p, "field_study")
    for site in fs.sites:
        if not site.batches:
            yield phrase("site {site} has no batches", site=site.code)
        for b in site.batches:
            if b.capacity <= 0 or b.days <= 0 or b.start_day < 0:
                yield phrase(
                    "site {site} batch {batch}: capacity and days must be positive", site=site.code, batch=b.code
                )
            elif length is not None and b.start_day + b.days > length:
                yield phrase(
                    "site {site} batch {batch} runs past the end of the field-study phase", site=site.code, batch=b.code
                )
        ends = sorted((b.start_day, b.start_day + b.days, b.code) for b in site.batches)
        for (_, end, code), (start, _, nxt) in itertools.combinations(ends, 2):
            if start < end:
                yield phrase("site {site}: batches {batch} and {other} overlap", site=site.code, batch=code, other=nxt)


def _misc_problems(p: Programme) -> Iterator[str]:
    length = _phase_length(p, "follow_up")
    for s in p.follow_up:
        if s.after_days < 0 or (length is not None and s.after_days > length):
            yield phrase(
                "{where}: after_days {after_days} falls outside the follow-up phase",
                where=survey_place(s.code),
                after_days=s.after_days,
            )
    yield from listed_twice(survey_place, [s.code for s in p.follow_up])
    for phase in duplicates(c.phase for c in p.credits):
        yield phrase(
            "credits: phase {phase} is listed more than once; one phase grants credits at one level", phase=phase
        )
    for i, credit in enumerate(p.credits):
        if credit.phase not in CREDITABLE_PHASES:
            yield phrase(
                "credits[{index}]: phase {phase} grants no credits; use one of {phases}",
                index=i,
                phase=credit.phase,
                phases=", ".join(CREDITABLE_PHASES),
            )
    if p.version < 1:
        yield phrase("version must be 1 or more")
    yield from template_text_problems(p)


def survey_place(code: str) -> str:
    return phrase("follow-up survey {survey}", survey=code)


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
