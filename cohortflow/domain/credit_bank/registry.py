"""The credit bank's changes, decided: who an import registers or corrects, which credits it records, and
whether an entry may be reversed. Pure: the caller reads the people and entries concerned and passes them in.

A person's stream (``person-{person_key}``) holds their registration, its corrections, the credits recorded
for them outside cohorts and every reversal, whatever the source of the entry reversed; :class:`PersonRecord`
folds it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, get_args

from cohortflow.domain.blocks.common import CreditLevel
from cohortflow.domain.credit_bank.credits import BankSource, Credit, TrainingKind, credit_problems
from cohortflow.domain.credit_bank.people import PersonFacts, PersonField, Post
from cohortflow.domain.credit_bank.recognition import Claim, Decision, Reviewer, decision_problems
from cohortflow.domain.credit_bank.review import Locks, lock_problem
from cohortflow.domain.events import (
    BankCreditRecorded,
    BankCreditReversed,
    Event,
    PersonCorrected,
    PersonRegistered,
    RecognitionDecided,
    RecognitionRequested,
)
from cohortflow.domain.national_id import PersonKeys, checked
from cohortflow.domain.phrases import joined, phrase

STREAM_PREFIX = "person-"
CORRECTABLE: tuple[PersonField, ...] = get_args(PersonField)


def person_stream(person_key: str) -> str:
    return f"{STREAM_PREFIX}{person_key}"


@dataclass(frozen=True)
class PersonRow:
    """One row of a people file, in the form the registry keeps (checked for form by the import reader)."""

    row: int
    name: str
    national_id: str
    post: Post
    took_post_on: date | None
    school: str
    county_code: str
    prefecture_code: str
    school_level: str | None
    subject: str


@dataclass(frozen=True)
class CreditRow:
    """One row of a credits file: hours one person earned in one training outside a cohort."""

    row: int
    national_id: str
    name: str
    """Optional in the file: when given, it must be the registered name (a mistyped ID number shows here)."""
    title: str
    hours: float
    level: CreditLevel
    kind: TrainingKind
    earned_on: date
    days: int
    off_the_job: bool


@dataclass(frozen=True)
class ReversalRow:
    """One row of a reversals file: one person's entry to cancel (a bank entry, or a cohort's award), and why."""

    row: int
    national_id: str
    name: str
    """Optional in the file: when given, it must be the registered name."""
    entry_id: str
    cohort_id: str
    """The cohort whose award is reversed; empty for an entry of the bank."""
    reason: str
    approver: str
    """Needed only for an entry of a locked year: the reviewer who locked it."""


@dataclass
class PersonRecord:
    """A person's stream folded: their facts and the entries recorded and reversed in it."""

    facts: PersonFacts | None = None
    entries: dict[str, BankCreditRecorded] = field(default_factory=dict)
    reversed: dict[str, str] = field(default_factory=dict)
    """Reversed references (a bank entry's id, or ``cohort_id/entry_id``) by the reversing entry's id."""
    claims: dict[str, tuple[RecognitionRequested, RecognitionDecided | None]] = field(default_factory=dict)
    """Recognition claims by id, with their decision once taken."""
    version: int = 0
    """The stream's version once folded: a change appends at it, or fails if someone changed the person meanwhile."""

    def apply(self, event: Event) -> None:
        if isinstance(event, PersonRegistered):
            self.facts = PersonFacts.model_validate(event.model_dump())
        elif isinstance(event, PersonCorrected) and self.facts is not None:
            self.facts = self.facts.corrected(event.field, event.value)
        elif isinstance(event, BankCreditRecorded):
            self.entries[event.entry_id] = event
        elif isinstance(event, BankCreditReversed):
            self.reversed[reference(event.reverses, event.cohort_id)] = event.entry_id
        elif isinstance(event, RecognitionRequested):
            self.claims[event.claim_id] = (event, None)
        elif isinstance(event, RecognitionDecided) and event.claim_id in self.claims:
            self.claims[event.claim_id] = (self.claims[event.claim_id][0], event)


def reference(entry_id: str, cohort_id: str | None) -> str:
    """How a reversal names what it cancels: a bank entry by its id, a cohort's award within its cohort."""
    return entry_id if cohort_id is None else f"{cohort_id}/{entry_id}"


class BankRefused(ValueError):
    """A change the credit bank will not make; ``problems`` names each reason (and row, for a file)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(joined(problems))


Limit = Literal["school", "county", "prefecture"]


def outside(
    facts: PersonFacts, prefecture: str | None, county: str | None = None, school: str | None = None
) -> tuple[Limit, str] | None:
    """Why someone limited to ``prefecture`` (a coordinator), ``county`` (a district reviewer) or ``school`` (a
    school, within its county) may not change this person: the limit the person is outside of, and the caller's
    unit there; None: they may, or there is no limit."""
    if school is not None and (facts.school, facts.county_code) != (school, county):
        return "school", school
    if county is not None and facts.county_code != county:
        return "county", county
    if prefecture is not None and facts.prefecture_code != prefecture:
        return "prefecture", prefecture
    return None


def within(facts: PersonFacts, prefecture: str | None, county: str | None = None, school: str | None = None) -> None:
    """Refuse a correction or reversal of a person outside the caller's prefecture, county or school."""
    person = facts.person_key
    match outside(facts, prefecture, county, school):
        case "school", unit:
            why = phrase(
                "person {person}: the person is registered outside your school {school}", person=person, school=unit
            )
        case "county", unit:
            why = phrase(
                "person {person}: the person is registered outside your county {county}", person=person, county=unit
            )
        case "prefecture", unit:
            why = phrase(
                "person {person}: the person is registered outside your prefecture {prefecture}",
                person=person,
                prefecture=unit,
            )
        case _:
            return
    raise BankRefused([why])


def _outside_row(
    where: str, facts: PersonFacts, prefecture: str | None, county: str | None, school: str | None
) -> str | None:
    """Why a file's row may not name this person (see :func:`outside`), naming the row; None if it may."""
    match outside(facts, prefecture, county, school):
        case "school", unit:
            return phrase(
                "{where}, national_id: the person is registered outside your school {school}", where=where, school=unit
            )
        case "county", unit:
            return phrase(
                "{where}, national_id: the person is registered outside your county {county}", where=where, county=unit
            )
        case "prefecture", unit:
            return phrase(
                "{where}, national_id: the person is registered outside your prefecture {prefecture}",
                where=where,
                prefecture=unit,
            )
    return None


@dataclass
class PeoplePlan:
    registered: list[PersonRegistered]
    corrected: list[PersonCorrected]
    unchanged: int
    problems: list[str]


def plan_people(
    rows: Iterable[PersonRow],
    registered: dict[str, PersonFacts],
    keys: PersonKeys,
    today: date,
    reason: str,
    prefecture: str | None = None,
) -> PeoplePlan:
    """What a people file changes: new people registered, registered ones corrected (only with ``reason``).

    ``registered`` holds the facts of every registered person whose key the file's ID numbers give. A
    coordinator's file (``prefecture``) registers and corrects people of their prefecture only.
    """
    plan = PeoplePlan([], [], 0, [])
    seen: dict[str, int] = {}
    for row in rows:
        where = phrase("row {row}", row=row.row)
        if prefecture is not None and row.prefecture_code != prefecture:
            plan.problems.append(
                phrase(
                    "{where}, prefecture_code: {code} is outside your prefecture {prefecture}",
                    where=where,
                    code=row.prefecture_code,
                    prefecture=prefecture,
                )
            )
            continue
        national_id, problems = checked(row.national_id, where)
        if not national_id:
            plan.problems.extend(problems)
            continue
        key = keys.of(national_id)
        if key in seen:
            plan.problems.append(
                phrase("{where}, national_id: the same person as row {row}", where=where, row=seen[key])
            )
            continue
        seen[key] = row.row
        facts = PersonFacts(
            person_key=key,
            name=row.name,
            national_id=national_id,
            post=row.post,
            took_post_on=row.took_post_on,
            school=row.school,
            county_code=row.county_code,
            prefecture_code=row.prefecture_code,
            school_level=row.school_level,
            subject=row.subject,
        )
        codes = [
            phrase(
                "{where}, {field}: {value} is not a six-digit division code", where=where, field=name, value=repr(value)
            )
            for name, value in (("county_code", row.county_code), ("prefecture_code", row.prefecture_code))
            if not _division(value)
        ]
        if not codes and not in_prefecture(row.county_code, row.prefecture_code):
            codes.append(
                phrase(
                    "{where}, county_code: {county} is not in prefecture {prefecture}",
                    where=where,
                    county=row.county_code,
                    prefecture=row.prefecture_code,
                )
            )
        if codes:
            plan.problems.extend(codes)
            continue
        if facts.took_post_on is not None and facts.took_post_on > today:
            plan.problems.append(
                phrase("{where}, took_post_on: {day} is in the future", where=where, day=facts.took_post_on)
            )
            continue
        born = facts.person().born_on
        if facts.took_post_on is not None and born is not None and facts.took_post_on < born:
            plan.problems.append(
                phrase(
                    "{where}, took_post_on: {day} is before the person was born", where=where, day=facts.took_post_on
                )
            )
            continue
        before = registered.get(key)
        if before is not None and outside(before, prefecture):
            plan.problems.append(
                phrase(
                    "{where}: the person is registered outside your prefecture {prefecture}",
                    where=where,
                    prefecture=prefecture,
                )
            )
            continue
        if before is None:
            plan.registered.append(PersonRegistered.model_validate(facts.model_dump()))
            continue
        changed = [f for f in CORRECTABLE if before.shown(f) != facts.shown(f)]
        if not changed:
            plan.unchanged += 1
        elif not reason.strip():
            listed = ", ".join(f"{f} {before.shown(f)!r} → {facts.shown(f)!r}" for f in changed)
            plan.problems.append(
                phrase(
                    "{where}: already registered with other facts ({listed}); give a reason to correct",
                    where=where,
                    listed=listed,
                )
            )
        else:
            plan.corrected.extend(
                PersonCorrected(
                    person_key=key, field=f, previous=before.shown(f), value=facts.shown(f), reason=reason.strip()
                )
                for f in changed
            )
    return plan


def in_prefecture(county: str, prefecture: str) -> bool:
    """Whether a county's division code lies in a prefecture's: they share the first four digits (430104 is in
    430100)."""
    return county[:4] == prefecture[:4]


def _division(code: str) -> bool:
    """An administrative division code (行政区划代码): six digits."""
    return len(code) == 6 and code.isascii() and code.isdigit()


def correction(
    facts: PersonFacts, field_name: PersonField, value: str | None, reason: str, prefecture: str | None = None
) -> PersonCorrected:
    """One fact corrected by hand; refused if the reason is empty, nothing changes, or the value does not fit, and
    for a coordinator (``prefecture``) if the person is not theirs or would move to another prefecture."""
    within(facts, prefecture)
    if not reason.strip():
        raise BankRefused([phrase("a correction needs a reason")])
    if field_name in ("county_code", "prefecture_code") and not _division(value or ""):
        raise BankRefused(
            [phrase("{field}: {value} is not a six-digit division code", field=field_name, value=repr(value))]
        )
    if field_name == "prefecture_code" and prefecture is not None and value != prefecture:
        raise BankRefused(
            [
                phrase(
                    "prefecture_code: {code} is outside your prefecture {prefecture}", code=value, prefecture=prefecture
                )
            ]
        )
    if facts.shown(field_name) == value:
        raise BankRefused([phrase("{field} is already {value}", field=field_name, value=repr(value))])
    try:
        fixed = facts.corrected(field_name, value)
    except ValueError as exc:
        raise BankRefused(
            [
                phrase(
                    "{field}: {value} is not a valid value ({error})",
                    field=field_name,
                    value=repr(value),
                    error=_first_error(exc),
                )
            ]
        ) from None
    if not in_prefecture(fixed.county_code, fixed.prefecture_code):
        raise BankRefused(
            [
                phrase(
                    "{field}: county {county} would not be in prefecture {prefecture}; "
                    "a move to another prefecture changes both, in a people file with a reason",
                    field=field_name,
                    county=fixed.county_code,
                    prefecture=fixed.prefecture_code,
                )
            ]
        )
    return PersonCorrected(
        person_key=facts.person_key,
        field=field_name,
        previous=facts.shown(field_name),
        value=fixed.shown(field_name),
        reason=reason.strip(),
    )


def _not_the_name(where: str, name: str) -> str:
    return phrase("{where}, name: {name} is not the registered name of this ID number", where=where, name=repr(name))


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    return str(errors()[0]["msg"]) if callable(errors) else str(exc)


@dataclass(frozen=True)
class CreditsPlan:
    recorded: list[BankCreditRecorded]
    problems: list[str]


def plan_credits(
    rows: Iterable[CreditRow],
    people: dict[str, PersonFacts],
    keys: PersonKeys,
    *,
    source: BankSource,
    recorded_by: str,
    today: date,
    file_digest: str,
    prefecture: str | None = None,
    locks: Locks | None = None,
    county: str | None = None,
    school: str | None = None,
) -> CreditsPlan:
    """The entries a credits file records, each for a registered person (of ``prefecture``, for a coordinator's
    file) and a year their district has not locked (``locks``); every problem of every row."""
    plan = CreditsPlan([], [])
    for row in rows:
        where = phrase("row {row}", row=row.row)
        national_id, problems = checked(row.national_id, where)
        if not national_id:
            plan.problems.extend(problems)
            continue
        facts = people.get(keys.of(national_id))
        if facts is None:
            plan.problems.append(
                phrase("{where}, national_id: not registered in the credit bank; import the person first", where=where)
            )
            continue
        if why := _outside_row(where, facts, prefecture, county, school):
            plan.problems.append(why)
            continue
        if row.name and row.name != facts.name:
            plan.problems.append(_not_the_name(where, row.name))
            continue
        entry_id = f"{source}-{file_digest[:16]}-{row.row}"
        credit = Credit(
            entry_id=entry_id,
            person_key=facts.person_key,
            hours=row.hours,
            level=row.level,
            kind=row.kind,
            source=source,
            earned_on=row.earned_on,
            recorded_on=today,
            days=row.days,
            off_the_job=row.off_the_job,
        )
        found = credit_problems(credit, facts.person(), today, where)
        locked = lock_problem(
            locks or {}, facts.county_code, row.earned_on, reversing=False, approver=None, where=where
        )
        if locked:
            found.append(locked)
        if found:
            plan.problems.extend(found)
            continue
        plan.recorded.append(
            BankCreditRecorded(
                entry_id=entry_id,
                person_key=facts.person_key,
                source=source,
                title=row.title,
                hours=row.hours,
                level=row.level,
                kind=row.kind,
                earned_on=row.earned_on,
                days=row.days,
                off_the_job=row.off_the_job,
                recorded_by=recorded_by,
            )
        )
    return plan


@dataclass(frozen=True)
class Reversible:
    """An entry a reversal may name, as the caller found it: its hours and whether something reversed it."""

    entry_id: str
    cohort_id: str | None
    hours: float
    reversed_by: str | None
    earned_on: date | None = None
    """When its hours were earned, if known: a reversal in a locked year names the year's approver."""


def reversal(
    facts: PersonFacts,
    target: Reversible | None,
    reference_text: str,
    reason: str,
    new_entry_id: str,
    *,
    locks: Locks | None = None,
    approver: str | None = None,
    where: str | None = None,
) -> BankCreditReversed:
    """The reversing entry for ``target``; refused if it is unknown, already reversed, itself a reversal, the
    reason is empty, or it is of a year the person's district locked and does not name the approver. Each
    problem names ``where`` first when given (a file's row)."""
    problems: list[str] = []
    locked_by = None
    if target is not None and target.earned_on is not None:
        district, earned = facts.county_code, target.earned_on
        locked_by = (locks or {}).get((district, earned.year))
        if locked := lock_problem(locks or {}, district, earned, reversing=True, approver=approver, where=where):
            problems.append(locked)
    if not reason.strip():
        problems.append(
            phrase("{where}: a reversal needs a reason", where=where) if where else phrase("a reversal needs a reason")
        )
    entry = reference_text
    if target is None:
        problems.append(
            phrase("{where}: {entry}: no such credit entry for this person", where=where, entry=entry)
            if where
            else phrase("{entry}: no such credit entry for this person", entry=entry)
        )
    elif target.reversed_by is not None:
        by = target.reversed_by
        problems.append(
            phrase("{where}: {entry}: already reversed by {by}", where=where, entry=entry, by=by)
            if where
            else phrase("{entry}: already reversed by {by}", entry=entry, by=by)
        )
    elif target.hours <= 0:
        problems.append(
            phrase("{where}: {entry}: is itself a reversal; record the credit again instead", where=where, entry=entry)
            if where
            else phrase("{entry}: is itself a reversal; record the credit again instead", entry=entry)
        )
    if problems or target is None:
        raise BankRefused(problems)
    return BankCreditReversed(
        entry_id=new_entry_id,
        person_key=facts.person_key,
        reverses=target.entry_id,
        cohort_id=target.cohort_id,
        hours=target.hours,
        reason=reason.strip(),
        locked_by=locked_by,
    )


def school_may_reverse(
    record: PersonRecord, entry_id: str, cohort_id: str | None, school: str | None, where: str | None = None
) -> str | None:
    """Why a school's token may not reverse this entry: a school reverses only school-level entries it recorded.
    The reason names ``where`` (a file's row) first when given."""
    if school is None:
        return None
    entry = record.entries.get(entry_id) if cohort_id is None else None
    if entry is None or (entry.source, entry.recorded_by) != ("school", school):
        if where:
            return phrase(
                "{where}, entry_id: {entry}: a school reverses only the school-level entries it recorded",
                where=where,
                entry=entry_id,
            )
        return phrase("{entry}: a school reverses only the school-level entries it recorded", entry=entry_id)
    return None


@dataclass
class ReversalsPlan:
    reversed: list[BankCreditReversed]
    problems: list[str]


def plan_reversals(
    rows: Iterable[ReversalRow],
    records: Mapping[str, PersonRecord],
    targets: Mapping[int, Reversible | None],
    keys: PersonKeys,
    *,
    file_digest: str,
    locks: Locks | None = None,
    prefecture: str | None = None,
    county: str | None = None,
    school: str | None = None,
) -> ReversalsPlan:
    """The reversing entries of a reversals file, each refused as :func:`reversal` refuses one by hand; an entry
    named twice in the file is reversed once and refused the second time. ``targets`` holds what each row names,
    as the caller found it (None: nothing by that id for that person)."""
    plan = ReversalsPlan([], [])
    done: dict[str, str] = {}
    for row in rows:
        where = phrase("row {row}", row=row.row)
        national_id, problems = checked(row.national_id, where)
        if not national_id:
            plan.problems.extend(problems)
            continue
        record = records.get(keys.of(national_id))
        facts = None if record is None else record.facts
        if record is None or facts is None:
            plan.problems.append(phrase("{where}, national_id: not registered in the credit bank", where=where))
            continue
        if why := _outside_row(where, facts, prefecture, county, school):
            plan.problems.append(why)
            continue
        if row.name and row.name != facts.name:
            plan.problems.append(_not_the_name(where, row.name))
            continue
        cohort_id = row.cohort_id or None
        target = targets.get(row.row)
        if target is not None and (earlier := done.get(reference(target.entry_id, cohort_id))) is not None:
            target = dataclasses.replace(target, reversed_by=phrase("{entry} (in this file)", entry=earlier))
        shown = (
            row.entry_id
            if cohort_id is None
            else phrase("entry {entry} of cohort {cohort}", entry=row.entry_id, cohort=cohort_id)
        )
        if refused := school_may_reverse(record, row.entry_id, cohort_id, school, where):
            plan.problems.append(refused)
            continue
        try:
            event = reversal(
                facts,
                target,
                shown,
                row.reason,
                f"reversal-{file_digest[:16]}-{row.row}",
                locks=locks,
                approver=row.approver or None,
                where=where,
            )
        except BankRefused as exc:
            plan.problems.extend(exc.problems)
            continue
        done[reference(event.reverses, event.cohort_id)] = event.entry_id
        plan.reversed.append(event)
    return plan


def unit_of(facts: PersonFacts, level: CreditLevel) -> str:
    """The body whose reviewers decide a credit of ``level`` for this person: the province, their prefecture,
    their county or their school."""
    return {
        "province": "province",
        "city": facts.prefecture_code,
        "district": facts.county_code,
        "school": facts.school,
    }[level]


def recognition_request(
    facts: PersonFacts,
    claim_id: str,
    *,
    title: str,
    hours: float,
    level: CreditLevel,
    earned_on: date,
    days: int,
    evidence: str,
    today: date,
) -> RecognitionRequested:
    """A claim for external study, refused (with every reason) if its hours could not have been earned."""
    credit = Credit(claim_id, facts.person_key, hours, level, "external", "recognised", earned_on, today, days)
    problems = credit_problems(credit, facts.person(), today, where="")
    if not title.strip():
        problems.append(phrase("title: say what was studied"))
    if problems:
        raise BankRefused(problems)
    return RecognitionRequested(
        claim_id=claim_id,
        person_key=facts.person_key,
        title=title.strip(),
        hours=hours,
        level=level,
        unit=unit_of(facts, level),
        earned_on=earned_on,
        days=days,
        evidence=evidence,
    )


def recognition_decision(
    record: PersonRecord, claim_id: str, reviewer: Reviewer, decision: Decision, reason: str
) -> list[Event]:
    """The decision on a claim, and on approval the recognised credit; refused if the reviewer may not decide it
    (another level or unit), it was decided already, or a refusal gives no reason."""
    found = record.claims.get(claim_id)
    if found is None or record.facts is None:
        raise BankRefused([phrase("claim {claim}: no such claim for this person", claim=claim_id)])
    claim, decided = found
    problems = decision_problems(
        Claim(
            claim_id,
            claim.person_key,
            claim.hours,
            claim.level,
            claim.unit,
            None if decided is None else decided.decision,
        ),
        reviewer,
        decision,
        reason,
    )
    if problems:
        raise BankRefused(problems)
    events: list[Event] = [
        RecognitionDecided(
            claim_id=claim_id,
            person_key=claim.person_key,
            decision=decision,
            reason=reason.strip(),
            reviewer_level=reviewer.level,
            reviewer_unit=reviewer.unit,
        )
    ]
    if decision == "approved":
        events.append(
            BankCreditRecorded(
                entry_id=f"recognised-{claim_id}",
                person_key=claim.person_key,
                source="recognised",
                title=claim.title,
                hours=claim.hours,
                level=claim.level,
                kind="external",
                earned_on=claim.earned_on,
                days=claim.days,
                off_the_job=False,
                recorded_by=reviewer.actor,
            )
        )
    return events
