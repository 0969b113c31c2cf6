"""The credit bank's activities: a people file, a credits file, a correction and a reversal, each applied whole.

Each reads the streams of the people it concerns, lets the domain decide
(:mod:`cohortflow.domain.credit_bank.registry`), and appends everything in one
transaction, every person's stream at the version it was read at: a file with
one bad row changes nothing, and a concurrent change to one of its people makes
the attempt fail and be retried on the new facts. Idempotency keys carry the
request's id (chosen once by the workflow), so a retried attempt appends nothing
twice while the same file sent again later is judged again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import structlog
from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity

from cohortflow.activities.base import refusals_are_final
from cohortflow.activities.heartbeats import heartbeating
from cohortflow.activities.imports import REPORTED_PROBLEMS, upload_path
from cohortflow.domain.cohort_stream import cohort_stream
from cohortflow.domain.credit_bank.credits import BankSource
from cohortflow.domain.credit_bank.people import PersonFacts, PersonField
from cohortflow.domain.credit_bank.registry import (
    STREAM_PREFIX,
    BankRefused,
    CreditRow,
    PersonRecord,
    PersonRow,
    ReversalRow,
    Reversible,
    correction,
    person_stream,
    plan_credits,
    plan_people,
    plan_reversals,
    reversal,
    school_may_reverse,
    within,
)
from cohortflow.domain.credit_bank.review import Locks, review_id
from cohortflow.domain.decoding import decode
from cohortflow.domain.events import (
    BankCreditRecorded,
    BankCreditReversed,
    BankCreditsFileRecorded,
    CreditAwarded,
    CreditReversed,
    Event,
    Metadata,
    PersonCorrected,
    PersonRegistered,
    YearLocked,
)
from cohortflow.domain.national_id import PersonKeys, checked
from cohortflow.domain.phrases import phrase
from cohortflow.domain.vocabulary import PROVINCE_ZONE
from cohortflow.imports.columns import BankKind
from cohortflow.imports.reading import FileRefused, open_table
from cohortflow.imports.typed import typed_rows
from cohortflow.store.eventstore import Append, EventStore
from cohortflow.store.records import NewEvent

WORKFLOW_ID = "credit-bank"
"""The one workflow that applies the bank's changes, one at a time (:mod:`cohortflow.workflows.credit_bank`)."""
REGISTRY_TYPES = (PersonRegistered.TYPE, PersonCorrected.TYPE)
Row = TypeVar("Row", PersonRow, CreditRow, ReversalRow)


class BankRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    request_id: str = ""
    """Chosen by the workflow for each request; keys the appends so a retried attempt appends nothing twice."""
    actor: str = "admin"
    at: datetime | None = None
    """The workflow's time of the request: decides "today" (no hours earned after it)."""
    prefecture: str | None = Field(
        None, description="A coordinator's prefecture: the request may concern people of it only; None for any"
    )
    county: str | None = Field(None, description="A school's or district reviewer's county: its people only")
    school: str | None = Field(None, description="A school's own name: its staff only")

    @property
    def today(self) -> date:
        if self.at is None:
            raise ValueError("the credit bank's workflow stamps a request's time before it is applied")
        return self.at.astimezone(PROVINCE_ZONE).date()


class PeopleImport(BankRequest):
    digest: str
    filename: str
    reason: str = Field("", description="Why registered people's facts change; needed if the file changes any")


class CreditsImport(BankRequest):
    digest: str
    filename: str
    source: BankSource = "school"
    recorded_by: str = Field(description="The unit recording the credits: a school's name or a county's code")


class ReversalsImport(BankRequest):
    digest: str
    filename: str


class PersonCorrection(BankRequest):
    person_key: str
    field: PersonField
    value: str | None
    reason: str


class CreditReversal(BankRequest):
    person_key: str
    entry_id: str
    cohort_id: str | None = Field(None, description="The cohort that awarded the entry; None for a bank entry")
    reason: str
    approver: str | None = Field(
        None, description="The approver of the locked year the entry is in (a reversal there must name them)"
    )


class BankOutcome(BaseModel):
    status: Literal["applied", "refused"]
    rows: int = 0
    registered: int = 0
    corrected: int = 0
    unchanged: int = 0
    recorded: int = 0
    reversed: int = 0
    problems: list[str] = Field(default_factory=list, description="The first problems, in the order of their rows")
    problem_count: int = 0
    """Every problem of a refused file; the answer lists only the first (it travels through Temporal)."""


class Reversed(BaseModel):
    entry_id: str
    reverses: str
    cohort_id: str | None
    hours: float


class BankActivities:
    def __init__(self, store: EventStore, uploads: Path | None = None) -> None:
        self.store = store
        self._uploads = uploads

    @activity.defn
    async def import_people(self, req: PeopleImport) -> BankOutcome:
        """Register a file's new people and correct the registered ones it changes (with the request's reason)."""
        keys = await self.store.person_keys()
        rows, problems = await self._rows("people", req.digest, PersonRow)
        records = await self._records(keys, (r.national_id for r in rows), REGISTRY_TYPES)
        facts = {k: r.facts for k, r in records.items() if r.facts is not None}
        plan = plan_people(rows, facts, keys, req.today, req.reason, req.prefecture)
        problems += plan.problems
        if problems:
            return _refused(rows, problems)
        await self._append(req, f"people/{req.digest}", _by_person([*plan.registered, *plan.corrected]), records)
        return BankOutcome(
            status="applied",
            rows=len(rows),
            registered=len(plan.registered),
            corrected=len({e.person_key for e in plan.corrected}),
            unchanged=plan.unchanged,
        )

    @activity.defn
    async def import_bank_credits(self, req: CreditsImport) -> BankOutcome:
        """Record a file's credits, each for a registered person; refused whole if any row is bad."""
        file_stream = f"bank-file-{req.digest}"
        if (mine := await self._applied(req, file_stream)) is not None:
            return BankOutcome(status="applied", rows=mine[0]["rows"], recorded=mine[0]["rows"])
        keys = await self.store.person_keys()
        rows, problems = await self._rows("bank_credits", req.digest, CreditRow)
        if (earlier := await self._recorded_before(file_stream)) is not None:
            return _refused(rows, [*problems, earlier])
        # Only the registration and its corrections are read: a person's earlier credits are no business of a
        # new file, and reading them would make every import slower as the bank fills.
        records = await self._records(keys, (r.national_id for r in rows), REGISTRY_TYPES)
        people = {k: r.facts for k, r in records.items() if r.facts is not None}
        districts = {p.county_code for p in people.values()}
        locks = await self._locks({(d, r.earned_on.year) for d in districts for r in rows})
        plan = plan_credits(
            rows,
            people,
            keys,
            locks=locks,
            source=req.source,
            recorded_by=req.recorded_by,
            today=req.today,
            file_digest=req.digest,
            prefecture=req.prefecture,
            county=req.county,
            school=req.school,
        )
        problems += plan.problems
        if problems:
            return _refused(rows, problems)
        changes = _by_person(plan.recorded)
        recorded = BankCreditsFileRecorded(
            digest=req.digest, filename=req.filename, source=req.source, recorded_by=req.recorded_by, rows=len(rows)
        )
        await self._append(req, f"credits/{req.digest}", changes, records, also=(file_stream, recorded))
        return BankOutcome(status="applied", rows=len(rows), recorded=len(plan.recorded))

    @activity.defn
    async def import_reversals(self, req: ReversalsImport) -> BankOutcome:
        """Reverse the entries a file names, each with its row's reason; refused whole if any row is bad."""
        file_stream = f"bank-file-{req.digest}"
        if (mine := await self._applied(req, file_stream)) is not None:
            return BankOutcome(status="applied", rows=mine[0]["rows"], reversed=mine[0]["rows"])
        keys = await self.store.person_keys()
        rows, problems = await self._rows("bank_reversals", req.digest, ReversalRow)
        if (earlier := await self._recorded_before(file_stream)) is not None:
            return _refused(rows, [*problems, earlier])
        records = await self._records(keys, (r.national_id for r in rows))  # whole streams: entries, reversals
        awards: dict[str, CohortAwards] = {}
        targets: dict[int, Reversible | None] = {}
        years: set[tuple[str, int]] = set()
        for row in rows:
            national_id = checked(row.national_id, "")[0]
            record = records.get(keys.of(national_id)) if national_id else None
            if record is None or record.facts is None:
                continue
            cohort_id = row.cohort_id or None
            if cohort_id is not None and cohort_id not in awards:
                awards[cohort_id] = await self._cohort_awards(cohort_id)
            target = _reversible(record, record.facts.person_key, row.entry_id, cohort_id, awards.get(cohort_id or ""))
            targets[row.row] = target
            if target is not None and target.earned_on is not None:
                years.add((record.facts.county_code, target.earned_on.year))
        plan = plan_reversals(
            rows,
            records,
            targets,
            keys,
            file_digest=req.digest,
            locks=await self._locks(years),
            prefecture=req.prefecture,
            county=req.county,
            school=req.school,
        )
        problems += plan.problems
        if problems:
            return _refused(rows, problems)
        changes = _by_person(plan.reversed)
        recorded = BankCreditsFileRecorded(
            digest=req.digest, filename=req.filename, kind="reversals", recorded_by=req.actor, rows=len(rows)
        )
        await self._append(req, f"reversals/{req.digest}", changes, records, also=(file_stream, recorded))
        return BankOutcome(status="applied", rows=len(rows), reversed=len(plan.reversed))

    @activity.defn
    @refusals_are_final
    async def correct_person(self, req: PersonCorrection) -> PersonFacts:
        """Change one fact of a registered person, with the reason."""
        record, version = await self._person(req.person_key)
        if record.facts is None:
            raise BankRefused([phrase("person {person_key} is not registered", person_key=req.person_key)])
        if await self._applied(req, req.person_key) is not None:
            return record.facts  # this request's correction is in the stream already
        event = correction(record.facts, req.field, req.value, req.reason, req.prefecture)
        change: dict[str, list[Event]] = {req.person_key: [event]}
        await self._append(req, f"correction/{req.field}", change, {req.person_key: record}, version)
        return record.facts.corrected(event.field, event.value)

    @activity.defn
    @refusals_are_final
    async def reverse_credit(self, req: CreditReversal) -> Reversed:
        """Cancel one of a person's entries, a bank entry or a cohort's award, finished cohort or not."""
        if (mine := await self._applied(req, req.person_key)) is not None:
            return Reversed.model_validate(mine[0])
        record, version = await self._person(req.person_key)
        if record.facts is None:
            raise BankRefused([phrase("person {person_key} is not registered", person_key=req.person_key)])
        within(record.facts, req.prefecture, req.county, req.school)
        awards = None if req.cohort_id is None else await self._cohort_awards(req.cohort_id)
        target = _reversible(record, req.person_key, req.entry_id, req.cohort_id, awards)
        if refused := school_may_reverse(record, req.entry_id, req.cohort_id, req.school):
            raise BankRefused([refused])
        shown = (
            req.entry_id
            if req.cohort_id is None
            else phrase("entry {entry} of cohort {cohort}", entry=req.entry_id, cohort=req.cohort_id)
        )
        locks = (
            {}
            if target is None or target.earned_on is None
            else await self._locks({(record.facts.county_code, target.earned_on.year)})
        )
        event = reversal(
            record.facts, target, shown, req.reason, f"reversal-{req.request_id}", locks=locks, approver=req.approver
        )
        await self._append(
            req, f"reversal/{req.entry_id}", {req.person_key: [event]}, {req.person_key: record}, version
        )
        return Reversed(entry_id=event.entry_id, reverses=event.reverses, cohort_id=event.cohort_id, hours=event.hours)

    async def _cohort_awards(self, cohort_id: str) -> CohortAwards:
        """A cohort's awards by entry id, and its own reversals of them (read once per cohort a request names)."""
        found = CohortAwards({}, {})
        awards = self.store.read_payloads(cohort_stream(cohort_id), ("CreditAwarded", "CreditReversed"))
        async for payload in awards:
            event = decode(payload.type, payload.schema_version, payload.data)
            if isinstance(event, CreditAwarded):
                found.awarded[event.entry_id] = event
            elif isinstance(event, CreditReversed):
                reversing = phrase("{entry} (in cohort {cohort})", entry=event.entry_id, cohort=cohort_id)
                found.reversed_by.setdefault(event.reverses, reversing)
        return found

    async def _recorded_before(self, file_stream: str) -> str | None:
        """Why a file recorded before is not applied again, if it was."""
        earlier = await self.store.first_event(file_stream)
        if earlier is None:
            return None
        when = earlier.recorded_at.astimezone(PROVINCE_ZONE).strftime("%Y-%m-%d %H:%M")
        actor = earlier.metadata.get("actor", "?")
        return phrase(
            "this file was recorded already, on {when} by {actor}; nothing was applied again", when=when, actor=actor
        )

    async def _locks(self, district_years: set[tuple[str, int]]) -> Locks:
        """Which of these districts' years are locked, and by whom: the YearLocked events of their reviews."""
        streams = {review_id(district, year): (district, year) for district, year in district_years}
        locks: dict[tuple[str, int], str] = {}
        async for stream_id, _, payload in self.store.read_streams(list(streams), [YearLocked.TYPE]):
            locks[streams[stream_id]] = str(payload.data["approved_by"])
        return locks

    async def _applied(self, req: BankRequest, stream_key: str) -> list[dict[str, Any]] | None:
        """The events this very request appended for ``stream_key`` (a person's key, or a file's stream), if an
        earlier attempt committed them: a retry answers from them instead of judging its own change again (which
        would refuse it as done already)."""
        recorded = await self.store.recorded(f"{WORKFLOW_ID}/{req.request_id}/{stream_key}")
        return None if recorded is None else [e.data for e in recorded]

    async def _rows(self, kind: BankKind, digest: str, row_type: type[Row]) -> tuple[list[Row], list[str]]:
        if self._uploads is None:
            raise RuntimeError("this worker was started without an uploads directory")
        path = upload_path(self._uploads, digest)

        def read() -> tuple[list[Row], list[str]]:
            rows: list[Row] = []
            problems: list[str] = []
            try:
                with open_table(path, kind) as table:
                    for _, typed, found in typed_rows(table):
                        problems += found
                        if isinstance(typed, row_type):
                            rows.append(typed)
            except FileRefused as exc:  # a file that cannot be read is refused, not retried
                problems.append(str(exc))
            return rows, problems

        async with heartbeating():
            rows, problems = await asyncio.to_thread(read)
        if not rows and not problems:
            problems.append(phrase("the file has no rows"))
        return rows, problems

    async def _records(
        self, keys: PersonKeys, national_ids: Iterable[str], types: Sequence[str] | None = None
    ) -> dict[str, PersonRecord]:
        """The folded streams (their events of ``types``, if given) of the people these ID numbers name, each at
        its stream's version (an empty record for one not registered)."""
        wanted = {keys.of(n) for n in (checked(raw, "")[0] for raw in national_ids) if n}
        records = {k: PersonRecord() for k in wanted}
        streams = [person_stream(k) for k in wanted]
        async with heartbeating():
            # Versions first: an append landing between the two reads then fails its expected version, where read
            # after the events it would pass on facts that miss it.
            for stream_id, version in (await self.store.stream_versions(streams)).items():
                records[stream_id.removeprefix(STREAM_PREFIX)].version = version
            async for stream_id, _, payload in self.store.read_streams(streams, types):
                records[stream_id.removeprefix(STREAM_PREFIX)].apply(
                    decode(payload.type, payload.schema_version, payload.data)
                )
        return records

    async def _person(self, person_key: str) -> tuple[PersonRecord, int]:
        records = {person_key: PersonRecord()}
        async for _, version, payload in self.store.read_streams([person_stream(person_key)]):
            records[person_key].apply(decode(payload.type, payload.schema_version, payload.data))
            records[person_key].version = version
        return records[person_key], records[person_key].version

    async def _append(
        self,
        req: BankRequest,
        step: str,
        changes: dict[str, list[Event]],
        records: dict[str, PersonRecord],
        version: int | None = None,
        also: tuple[str, Event] | None = None,
    ) -> None:
        """Append each person's events at the version read; ``also`` one event to a new stream of its own (a
        file's record) in the same transaction."""
        if not changes:
            return
        metadata = Metadata(
            actor=req.actor,
            workflow_id=WORKFLOW_ID,
            programme_id="",
            programme_version=0,
            step=step,
            correlation_id=req.request_id,
        ).model_dump()
        appends: Sequence[Append] = [
            Append(
                person_stream(key),
                [NewEvent(e.TYPE, e.payload(), metadata, e.SCHEMA_VERSION) for e in events],
                idempotency_key=f"{WORKFLOW_ID}/{req.request_id}/{key}",
                expected_version=records[key].version if version is None else version,
            )
            for key, events in changes.items()
        ]
        if also is not None:
            stream, event = also
            new = NewEvent(event.TYPE, event.payload(), metadata, event.SCHEMA_VERSION)
            appends = [*appends, Append(stream, [new], f"{WORKFLOW_ID}/{req.request_id}/{stream}", expected_version=0)]
        async with heartbeating():
            await self.store.append_each(appends)
        structlog.get_logger().info(
            "credit bank changed", step=step, people=len(appends), events=sum(len(a.events) for a in appends)
        )


def _by_person(
    events: Sequence[PersonRegistered | PersonCorrected | BankCreditRecorded | BankCreditReversed],
) -> dict[str, list[Event]]:
    """Each person's events, in the order given: one append per person's stream."""
    changes: dict[str, list[Event]] = {}
    for event in events:
        changes.setdefault(event.person_key, []).append(event)
    return changes


@dataclass(frozen=True)
class CohortAwards:
    awarded: dict[str, CreditAwarded]
    reversed_by: dict[str, str]


def _reversible(
    record: PersonRecord, person_key: str, entry_id: str, cohort_id: str | None, awards: CohortAwards | None
) -> Reversible | None:
    """The entry a reversal names, as found: a bank entry of the person's stream, or a cohort's award to them."""
    if cohort_id is None:
        entry = record.entries.get(entry_id)
        if entry is None:
            return None
        return Reversible(
            entry.entry_id, None, entry.hours, record.reversed.get(entry.entry_id), earned_on=entry.earned_on
        )
    awarded = None if awards is None else awards.awarded.get(entry_id)
    if awards is None or awarded is None or awarded.person_key != person_key:
        return None
    reversed_by = record.reversed.get(f"{cohort_id}/{entry_id}") or awards.reversed_by.get(entry_id)
    earned = None if awarded.earned_at is None else awarded.earned_at.astimezone(PROVINCE_ZONE).date()
    return Reversible(awarded.entry_id, cohort_id, awarded.hours, reversed_by, earned_on=earned)


def _refused(rows: Sequence[PersonRow | CreditRow | ReversalRow], problems: list[str]) -> BankOutcome:
    ordered = sorted(problems, key=_row_order)
    return BankOutcome(
        status="refused", rows=len(rows), problems=ordered[:REPORTED_PROBLEMS], problem_count=len(ordered)
    )


def _row_order(problem: str) -> tuple[int, str]:
    """Problems in the order of their rows (``row 12, …``), problems of the whole file first."""
    head = problem.split(",", 1)[0].split(":", 1)[0]
    number = head.removeprefix("row ")
    return (int(number) if number.isdigit() else 0, problem)
