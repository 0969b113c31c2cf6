"""Imports: an uploaded file, named by its content digest, checked and applied in one transaction.

The file is read twice and never held in memory. The first pass checks the
rows a chunk at a time: each row on its own in the domain, and for repeats
within the file (the same participant id, person or record twice) against the
keys of the rows before it, which it keeps in temporary tables of its own
database connection (:mod:`cohortflow.activities.repeats`) rather than in
memory. It writes rejected rows to a file of this import's own, which its
importer can download and fix (:mod:`cohortflow.activities.rejects`), and
their numbers to a temporary file. The second pass streams the other
rows' events into the store. With any bad row nothing is applied, unless the
request accepts a partial import.

Imports are de-duplicated by row, not by file. A row that says exactly what the
cohort has recorded about its subject (the participant for a nominee; the
participant and the record, or block and item, for a record), or that an earlier
import of the same file applied, is counted as already applied: neither a
problem nor applied again. So a file uploaded again, say by an administrator
after a coordinator applied their prefecture's rows of it, applies exactly the
rows not yet applied, and a file whose every row is applied answers "duplicate".
A row about the same subject that says something else is what it always was (a
conflict for a nominee; the new value for a record). Each request is its own
step, keyed by kind, digest and request id, so a retried request finds what it
recorded and answers as it did the first time.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import tempfile
import time
from array import array
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, Protocol, TypeVar

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from pydantic import BaseModel
from sqlalchemy import BigInteger, and_, any_, bindparam, cast, select, true
from temporalio import activity

from cohortflow.activities.base import CohortActivities, CohortRef, refusals_are_final
from cohortflow.activities.plan_enrolments import PlanNominations, plan_nominations
from cohortflow.activities.rejects import RejectsOwner, RejectsWriter, import_id, owner_of
from cohortflow.activities.repeats import KeyTable, LatestTable, text_key
from cohortflow.domain.block_records import SubmissionCheck
from cohortflow.domain.blocks.intake import SubmissionRow
from cohortflow.domain.canonical import digest as content_digest
from cohortflow.domain.credit_bank.registry import CreditRow, PersonRow, ReversalRow
from cohortflow.domain.cycle import CommandRefused
from cohortflow.domain.decoding import decode
from cohortflow.domain.events import (
    AnonymousAnswerRecorded,
    CandidateNominated,
    DeliverableSubmitted,
    Event,
    FactCorrected,
    FieldAttendanceRecorded,
    ImportApplied,
    ImportKind,
    OnlineStudyRecorded,
    ReturnReportSubmitted,
    StudyHoursRecorded,
    SubmissionRecorded,
    SurveyResponded,
)
from cohortflow.domain.facts import CohortFacts
from cohortflow.domain.national_id import PersonKeys
from cohortflow.domain.nomination import NominationCheck, NomineeRow
from cohortflow.domain.phrases import phrase
from cohortflow.domain.quotas import quotas_of, taken
from cohortflow.domain.records import (
    AttendanceRow,
    DeliverableRow,
    RecordCheck,
    RecordRow,
    ReturnReportRow,
    StudyRow,
    SurveyRow,
)
from cohortflow.domain.rotation_plan import RosterRow
from cohortflow.domain.template import AnyTemplate, ProgrammeTemplate
from cohortflow.imports.reading import FileRefused, SourceRow, open_table
from cohortflow.imports.typed import TypedRow, submission_row, typed_row
from cohortflow.store import tables as t
from cohortflow.store.eventstore import EventStore
from cohortflow.store.sql import Statement, execute

REPORTED_PROBLEMS = 200
"""Problems returned in the answer; the rejects file holds every one."""
HEARTBEAT_EVERY = 2_000
CHUNK_ROWS = 500
"""Rows checked together: the most rows held at once, for three round trips to the key tables."""

T = TypeVar("T")


class ImportRecords(BaseModel):
    ref: CohortRef
    kind: ImportKind
    digest: str
    filename: str
    accept_partial: bool = False
    prefecture: str | None = None
    """A coordinator's prefecture: rows of other prefectures are rejected."""
    plan_id: str | None = None
    """The cohort's rotation plan: people enrolled in its other cohorts are rejected."""
    block: str | None = None
    """In a block template's cohort, the open block the file's records go to."""
    request_id: str | None = None
    """The administrator's request (the Update's id): its retry answers as the first attempt did."""


class ImportOutcome(BaseModel):
    status: Literal["applied", "refused", "duplicate"]
    kind: ImportKind
    digest: str
    rows: int = 0
    applied: int = 0
    rejected: int = 0
    problems: list[str] = []
    problem_count: int = 0
    rejects_file: bool = False
    rejects_id: str | None = None
    """Which import's rejected rows ``/imports/{digest}/rejects?import_id=`` serves (its importer's only)."""
    already_applied: int = 0
    """Rows saying what the cohort has recorded already (or that an earlier import of the file applied)."""


def upload_path(uploads: Path, digest: str) -> Path:
    """Where an uploaded file lies: under its SHA-256 digest, so the same content is one file."""
    return uploads / digest


Checker = NominationCheck | RecordCheck | SubmissionCheck
Convert = Callable[[SourceRow], tuple[TypedRow | None, list[str]]]


@dataclass
class _Tally:
    rows: int = 0
    rejected: int = 0
    already: int = 0
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0

    def reject(self, problems: list[str]) -> None:
        self.rejected += 1
        self.problem_count += len(problems)
        self.problems.extend(problems[: max(0, REPORTED_PROBLEMS - len(self.problems))])

    @property
    def good(self) -> int:
        """Rows to apply: neither rejected nor already applied."""
        return self.rows - self.rejected - self.already

    def outcome(
        self, req: ImportRecords, status: Literal["applied", "refused", "duplicate"], **more: Any
    ) -> ImportOutcome:
        return ImportOutcome(
            status=status,
            kind=req.kind,
            digest=req.digest,
            rows=self.rows,
            rejected=self.rejected,
            already_applied=self.already,
            problems=self.problems,
            problem_count=self.problem_count,
            **more,
        )


def _kept(rejects: RejectsWriter | None, outcome: ImportOutcome) -> ImportOutcome:
    """``outcome``, with the rejected rows put in place for its importer when there are any."""
    if rejects is None or not rejects.written:
        return outcome
    kept = outcome.model_copy(update={"rejects_file": True, "rejects_id": rejects.owner.import_id})
    rejects.publish(kept)
    return kept


def _refused(req: ImportRecords, problem: str) -> ImportOutcome:
    """A file refused as a whole, before any row could be checked."""
    return _Tally(problems=[problem], problem_count=1).outcome(req, "refused")


class ImportActivities(CohortActivities):
    @activity.defn
    @refusals_are_final
    async def import_records(self, req: ImportRecords) -> ImportOutcome:
        step = _step(req)
        answered = await self._answered(req, step)
        if answered is not None:
            return answered
        path = upload_path(self.uploads, req.digest)
        if not path.is_file():
            return _refused(req, phrase("no uploaded file has digest {digest}", digest=req.digest))
        programme = await self.pinned(req.ref)
        facts = await self.facts(req.ref)
        rejects = RejectsWriter(self.uploads, self._rejects_owner(req, step)) if req.accept_partial else None
        plan = None
        if req.plan_id is not None and req.kind == "nominees":
            plan = await plan_nominations(self.store, req.plan_id, req.ref.cohort_id)
        with contextlib.closing(_RowNumbers()) as skipped, contextlib.ExitStack() as cleanup:
            if rejects is not None:
                cleanup.callback(rejects.close)
            try:
                tally = await self._first_pass(req, path, programme, facts, plan, rejects, skipped)
            except FileRefused as exc:
                return _refused(req, str(exc))
            if tally.rows == 0:
                return _refused(req, phrase("the file has no data rows"))
            good = tally.good
            if (tally.rejected and not req.accept_partial) or (good == 0 and not tally.already):
                return _kept(rejects, tally.outcome(req, "refused"))
            if good == 0:  # every row that is not rejected is applied already: nothing to record
                return _kept(rejects, tally.outcome(req, "duplicate"))
            summary = ImportApplied(
                kind=req.kind,
                digest=req.digest,
                filename=req.filename,
                rows=tally.rows,
                applied=good,
                rejected=tally.rejected,
                request_id=req.request_id,
            )
            outcome = _kept(rejects, tally.outcome(req, "applied", applied=good))
            await self.append(
                req.ref,
                step,
                _second_pass(
                    req,
                    path,
                    _checker(req, programme, facts, await self.store.person_keys()),
                    _converter(req, programme),
                    skipped,
                    summary,
                ),
                programme=programme,
                count=good + 1,
            )
        return outcome

    async def _answered(self, req: ImportRecords, step: str) -> ImportOutcome | None:
        """What an earlier attempt of this request answered, if it recorded its import; None: check the file.

        Imports recorded before requests had steps of their own are under the kind and digest alone: one of
        them is this request's only if it names it; any other's rows are found, row by row, as applied already.
        A request without an id (the demo's feeder) is answered by its file's earlier import, as a duplicate.
        """
        legacy = _step(req.model_copy(update={"request_id": None}))
        done = await _summary(self.store, req.ref, step)
        if done is None and step != legacy:
            done = await _summary(self.store, req.ref, legacy)
            if done is not None and done.request_id != req.request_id:
                return None
        if done is None:
            return None
        if done.request_id is None or done.request_id != req.request_id:
            return ImportOutcome(
                status="duplicate", kind=req.kind, digest=req.digest, rows=done.rows, already_applied=done.applied
            )
        kept = owner_of(self.uploads, req.digest, self._rejects_owner(req, step).import_id)
        if kept is not None and kept.outcome is not None:
            return ImportOutcome.model_validate(kept.outcome)  # the whole first answer, problems and all
        return ImportOutcome(
            status="applied",
            kind=req.kind,
            digest=req.digest,
            rows=done.rows,
            applied=done.applied,
            rejected=done.rejected,
            already_applied=max(0, done.rows - done.applied - done.rejected),
        )

    def _rejects_owner(self, req: ImportRecords, step: str) -> RejectsOwner:
        """Whose this import's rejected rows are: its own file, scoped to its importer."""
        who = f"{req.request_id or ''}\n{req.ref.actor}\n{req.prefecture or ''}"
        return RejectsOwner(
            import_id=import_id(req.ref.workflow_id, f"{step}\n{who}"),
            digest=req.digest,
            kind=req.kind,
            cohort_id=req.ref.cohort_id,
            actor=req.ref.actor,
            prefecture=req.prefecture,
            created=time.time(),
        )

    async def _first_pass(
        self,
        req: ImportRecords,
        path: Path,
        programme: AnyTemplate,
        facts: CohortFacts,
        plan: PlanNominations | None,
        rejects: RejectsWriter | None,
        skipped: _RowNumbers,
    ) -> _Tally:
        """Check every row; note the number of each bad row, and each row already applied, in ``skipped`` and,
        with ``rejects``, each bad row and its reasons there. In a rotation plan's cohort, nominees enrolled in
        its other cohorts, or not on its roster, are refused.

        The key tables live in a transaction that is always rolled back: the check writes nothing that stays.
        """
        tally = _Tally()
        async with self.store.pool.connection() as conn, conn.transaction(force_rollback=True):
            keys = await self.store.person_keys(conn)
            applied = await _Applied.open(conn, req)
            chunks = await _open_chunks(conn, _checker(req, programme, facts, keys), facts, plan, applied)
            convert = _converter(req, programme)
            async with contextlib.aclosing(_checked(chunks, req.kind, convert, path)) as checked:
                async for source, problems in checked:
                    tally.rows += 1
                    if tally.rows % HEARTBEAT_EVERY == 0:
                        activity.heartbeat(tally.rows)
                    if problems is None:
                        tally.already += 1
                        skipped.add(source.row)
                        continue
                    if not problems:
                        continue
                    tally.reject(problems)
                    skipped.add(source.row)
                    if rejects is not None:
                        rejects.row(source.row, problems, list(source.values), list(source.values.values()))
        return tally


class _RowNumbers:
    """Ascending row numbers, spilled to a temporary file a block at a time, so memory does not grow with them."""

    BLOCK = 4_096

    def __init__(self) -> None:
        self._pending = array("q")
        self._file: IO[bytes] | None = None

    def add(self, row: int) -> None:
        self._pending.append(row)
        if len(self._pending) >= self.BLOCK:
            self._spill()

    def _spill(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - kept open until close()
        self._pending.tofile(self._file)
        self._pending = array("q")

    def __iter__(self) -> Iterator[int]:
        if self._file is None:
            yield from self._pending
            return
        self._spill()
        self._file.seek(0)
        while True:
            block = array("q")
            try:
                block.fromfile(self._file, self.BLOCK)
            except EOFError:  # the last, short block: what there was has been read
                yield from block
                return
            yield from block

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


Problems = list[str] | None
"""A row's problems (none: it is good), or None: it is applied already."""


class _Chunks(Protocol):
    async def problems(self, rows: Sequence[TypedRow]) -> list[Problems]:
        """Each row's problems, for rows that follow every row given before."""
        ...


class _NomineeChunks:
    """Nominee rows: every row's participant id, and every nominated person, go to the key tables.

    A row's participant id is a repeat if it is on any earlier row; its person only if an earlier row
    nominated them (one refused over a quota may be nominated on a later row) or they are in the cohort
    already. That is decided row by row, so the people nominated by the chunk are held until it is done.
    In a rotation plan's cohort, who is enrolled in its other cohorts or on its roster is looked up a chunk at a time.
    A row whose nomination is the one recorded for its participant is applied already (unless its participant
    id repeats an earlier row's), and counts against no quota.
    """

    def __init__(
        self,
        check: NominationCheck,
        ids: KeyTable,
        people: KeyTable,
        conn: AsyncConnection[TupleRow],
        plan: PlanNominations | None,
        applied: _Applied,
    ) -> None:
        self.check = check
        self.ids = ids
        self.people = people
        self.conn = conn
        self.plan = plan
        self.applied = applied

    async def problems(self, rows: Sequence[TypedRow]) -> list[Problems]:
        screened = [self.check.screen(r) for r in _nominees(rows)]
        nominations = ((NominationCheck.nomination(s), s.row.row) for s in screened)
        applied = await self.applied.rows((_identities(e)[0], row) for e, row in nominations if e is not None)
        repeated = await self.ids.repeats([(text_key(s.row.participant_id), s.row.row) for s in screened])
        keys = {s.person_key for s in screened if s.person_key}
        earlier = await self.people.recorded(keys)
        enrolled, listed = await self.plan.lookup(self.conn, keys) if self.plan else ({}, None)
        off_roster_of = self.plan.plan_id if self.plan else None
        nominated: dict[str, int] = {}
        found: list[Problems] = []
        for s in screened:
            if s.row.row in applied and s.row.row not in repeated:
                found.append(None)
                continue
            key = s.person_key
            seen = key in earlier or key in nominated
            outcome = self.check.decide(
                s,
                id_seen=s.row.row in repeated,
                person_seen=seen,
                enrolled_in=enrolled.get(key),
                off_roster_of=off_roster_of if listed is not None and key not in listed else None,
            )
            if isinstance(outcome, list):
                found.append(outcome)
            else:
                nominated[key] = s.row.row
                found.append([])
        await self.people.add(list(nominated.items()))
        return found


class _RecordChunks:
    """Record rows: the repeat key of every row whose participant may have records goes to the key table.

    A row that says what is recorded about its subject is applied already, even if its participant could not
    have it recorded now (they have withdrawn since); unless it repeats an earlier row of the file.
    """

    def __init__(self, check: RecordCheck | SubmissionCheck, keys: KeyTable, applied: _Applied) -> None:
        self.check = check
        self.keys = keys
        self.applied = applied

    async def problems(self, rows: Sequence[TypedRow]) -> list[Problems]:
        records = _records(rows)
        applied = await self.applied.rows(
            (_row_identity(self.check, r), r.row) for r in records if _in_scope(self.check, r)
        )
        screened = [[] if r.row in applied else _screen(self.check, r) for r in records]
        keyed = [
            (text_key(*_repeat_key(self.check, r)), r.row)
            for r, problems in zip(records, screened, strict=True)
            if not problems
        ]
        repeated = await self.keys.repeats(keyed)
        found: list[Problems] = []
        for r, problems in zip(records, screened, strict=True):
            if not problems and r.row in applied and r.row not in repeated:
                found.append(None)
                continue
            outcome = problems or _decide(self.check, r, repeated=r.row in repeated)
            found.append(outcome if isinstance(outcome, list) else [])
        return found


async def _open_chunks(
    conn: AsyncConnection[TupleRow],
    check: Checker,
    facts: CohortFacts,
    plan: PlanNominations | None,
    applied: _Applied,
) -> _Chunks:
    """The chunked check of ``check``'s kind, with its key tables made in ``conn``'s transaction."""
    if not isinstance(check, NominationCheck):
        return _RecordChunks(check, await KeyTable.create(conn, "import_record_keys"), applied)
    ids = await KeyTable.create(conn, "import_participant_ids")
    people = await KeyTable.create(conn, "import_people")
    for known in _batched(((p.person_key, 0) for p in facts.participants.values()), 10 * CHUNK_ROWS):
        await people.add(known)  # row 0: before the file
    return _NomineeChunks(check, ids, people, conn, plan, applied)


async def _checked(
    chunks: _Chunks, kind: ImportKind, convert: Convert, path: Path
) -> AsyncGenerator[tuple[SourceRow, Problems]]:
    """Every row of the file with its problems (none: it is good; None: it is applied already), in file order."""
    with open_table(path, kind) as table:
        for sources in _batched(table.rows(), CHUNK_ROWS):
            typed = [convert(source) for source in sources]
            found = iter(await chunks.problems([t for t, problems in typed if t is not None and not problems]))
            for source, (t, problems) in zip(sources, typed, strict=True):
                yield source, (problems if t is None or problems else next(found))


# ----------------------------------------------------------------------------- rows applied already
Identity = tuple[str, str]
"""What a row or a recorded event is about (its subject, a key) and what it says about it (a fingerprint)."""

_RECORDED_TYPES = (
    "CandidateNominated",
    "StudyHoursRecorded",
    "OnlineStudyRecorded",
    "FactCorrected",
    "DeliverableSubmitted",
    "FieldAttendanceRecorded",
    "ReturnReportSubmitted",
    "SurveyResponded",
    "SubmissionRecorded",
)
"""The events that record what an import's row says; anonymous answers have no subject to compare with."""
_ANONYMOUS = "anonymous"


def _says(*content: object) -> str:
    return content_digest(list(content))[:32]


def _identities(event: Event) -> list[Identity]:
    """What ``event`` records, one identity per subject it sets, in the terms rows are compared in.

    A later event about a subject replaces an earlier one (the latest record stands); a correction's
    fingerprint matches no row, so after it a row with the old value is applied again, as before.
    """
    match event:
        case CandidateNominated():
            return [(text_key("nominee", event.participant_id), _says(event.payload()))]
        case StudyHoursRecorded():
            return [(text_key("hours", event.participant_id), _says("hours", event.hours))]
        case OnlineStudyRecorded():
            return [
                (text_key("hours", event.participant_id), _says("online", event.hours)),
                *((text_key("deliverable", event.participant_id, d), _says("deliverable")) for d in event.deliverables),
            ]
        case FactCorrected(field="hours"):
            return [(text_key("hours", event.participant_id), _says("corrected", event.value))]
        case FactCorrected(field="days_present"):
            return [(text_key("attendance", event.participant_id), _says("corrected", event.value))]
        case DeliverableSubmitted():
            return [(text_key("deliverable", event.participant_id, event.deliverable), _says("deliverable"))]
        case FieldAttendanceRecorded():
            return [(text_key("attendance", event.participant_id), _says("attendance", event.days_present))]
        case ReturnReportSubmitted():
            return [(text_key("return_report", event.participant_id), _says("return_report"))]
        case SurveyResponded():
            return [(text_key("survey", event.participant_id, event.survey), _says("survey", event.satisfaction))]
        case SubmissionRecorded():
            subject = text_key("submission", event.block, event.kind, event.participant_id, event.item)
            return [(subject, _says("submission", event.number, event.text))]
        case AnonymousAnswerRecorded():
            return [(text_key(_ANONYMOUS, event.block, event.kind), _says(_ANONYMOUS, event.number, event.text))]
    return []


def _row_identity(check: RecordCheck | SubmissionCheck, r: RecordRow | SubmissionRow) -> Identity:
    """What a record row would record, as :func:`_identities` names the event it makes."""
    if isinstance(r, SubmissionRow):
        assert isinstance(check, SubmissionCheck)
        block, kind = check.block.code, check.intake.kind
        if check.intake.anonymous:
            return text_key(_ANONYMOUS, block, kind), _says(_ANONYMOUS, r.number, r.text)
        return text_key("submission", block, kind, r.participant_id, r.item), _says("submission", r.number, r.text)
    pid = r.participant_id
    match r:
        case StudyRow():
            return text_key("hours", pid), _says("hours", r.hours)
        case DeliverableRow():
            return text_key("deliverable", pid, r.deliverable), _says("deliverable")
        case AttendanceRow():
            return text_key("attendance", pid), _says("attendance", r.days_present)
        case ReturnReportRow():
            return text_key("return_report", pid), _says("return_report")
        case SurveyRow():
            return text_key("survey", pid, r.survey), _says("survey", r.satisfaction)


def _in_scope(check: RecordCheck | SubmissionCheck, r: RecordRow | SubmissionRow) -> bool:
    """Whether the importer could have applied the row: a known participant of their prefecture (or anonymous)."""
    if isinstance(check, SubmissionCheck) and check.intake.anonymous:
        return True
    p = check.facts.participants.get(r.participant_id)
    return p is not None and (check.prefecture is None or p.prefecture_code == check.prefecture)


class _Applied:
    """What the cohort has recorded, and what earlier imports of this file applied, in ``conn``'s key tables."""

    def __init__(self, latest: LatestTable, by_file: KeyTable) -> None:
        self.latest = latest
        self.by_file = by_file
        self.empty = True
        """Nothing recorded to compare rows with (a cohort's first import of its kind): every row is new."""

    @classmethod
    async def open(cls, conn: AsyncConnection[TupleRow], req: ImportRecords) -> _Applied:
        applied = cls(
            await LatestTable.create(conn, "import_recorded"), await KeyTable.create(conn, "import_file_applied")
        )
        stream = req.ref.stream_id
        recorded = _stream(conn, _RECORDED_EVENTS, stream=stream, types=list(_RECORDED_TYPES))
        async for batch in recorded:
            identities = [i for event in batch for i in _identities(event)]
            await applied.latest.put(identities)
            applied.empty &= not identities
        # An import's events lie at the positions just before its summary: one per row it applied.
        by_file = _stream(conn, _APPLIED_BY_FILE, stream=stream, digest=req.digest, kind=req.kind)
        async for batch in by_file:
            keys = [(text_key(*i), 0) for event in batch for i in _identities(event)]
            await applied.by_file.add(keys)
            applied.empty &= not keys
        return applied

    async def rows(self, identified: Iterable[tuple[Identity, int]]) -> set[int]:
        """The rows among ``identified`` (an identity and a row number each) that are applied already.

        ``identified`` is not read when nothing is recorded: a first import does not work out what its rows say.
        """
        if self.empty:
            return set()
        identities = list(identified)
        latest = await self.latest.matching([(subject, says, row) for (subject, says), row in identities])
        found = await self.by_file.recorded({text_key(*i) for i, _ in identities})
        return latest | {row for i, row in identities if text_key(*i) in found}


def _import_statements() -> tuple[Statement, Statement, Statement]:
    """What an import reads of its cohort's log: the events recording what a row can say, the events an earlier
    import of the same file applied, and an import's summary."""
    e, i, f = t.events.alias("e"), t.events.alias("i"), t.events.alias("f")
    decoded = (e.c.type, e.c.schema_version, e.c.data)
    recorded = (
        select(*decoded)
        .where(e.c.stream_id == bindparam("stream"), e.c.type == any_(bindparam("types")))
        .order_by(e.c.stream_version)
    )
    # An import's events lie at the positions just before its summary: one per row it applied.
    applied = cast(i.c.data["applied"].astext, BigInteger)
    by_file = (
        select(*decoded)
        .join_from(
            i,
            e,
            and_(e.c.stream_id == i.c.stream_id, e.c.position >= i.c.position - applied, e.c.position < i.c.position),
        )
        .where(
            i.c.stream_id == bindparam("stream"),
            i.c.type == ImportApplied.TYPE,
            i.c.data["digest"].astext == bindparam("digest"),
            i.c.data["kind"].astext == bindparam("kind"),
        )
        .order_by(e.c.position)
    )
    # The first ImportApplied from the step's first event on (its last), read without the events before it.
    first_summary = (
        select(e.c.data)
        .where(e.c.stream_id == f.c.stream_id, e.c.position >= f.c.position, e.c.type == ImportApplied.TYPE)
        .order_by(e.c.position)
        .limit(1)
        .lateral("s")
    )
    summary = (
        select(first_summary.c.data).join_from(f, first_summary, true()).where(f.c.idempotency_key == bindparam("key"))
    )
    return Statement(recorded), Statement(by_file), Statement(summary)


_RECORDED_EVENTS, _APPLIED_BY_FILE, _SUMMARY = _import_statements()


async def _stream(conn: AsyncConnection[TupleRow], query: Statement, **params: object) -> AsyncGenerator[list[Event]]:
    """The events ``query`` selects (type, schema version, data), a batch at a time, through a server-side cursor."""
    async with conn.cursor(name="import_recorded_events") as cur:
        await cur.execute(query.sql, query.args(params))
        while batch := await cur.fetchmany(10 * CHUNK_ROWS):
            activity.heartbeat()
            yield [decode(kind, version, data) for kind, version, data in batch]


def _step(req: ImportRecords) -> str:
    """The import's business step: its request's own; without a request id, its kind and digest alone."""
    step = f"import/{req.kind}/{req.digest}"
    return f"{step}/{req.request_id}" if req.request_id else step


async def _summary(store: EventStore, ref: CohortRef, step: str) -> ImportApplied | None:
    """The summary an import recorded as ``step``, if it did: the first ImportApplied from the step's first
    event on (its last), read without the events before it."""
    async with store.pool.connection() as conn:
        cur = await execute(conn, _SUMMARY, key=f"{ref.workflow_id}/{step}#0")
        row = await cur.fetchone()
    return None if row is None else ImportApplied.model_validate(row[0])


def _second_pass(
    req: ImportRecords,
    path: Path,
    check: Checker,
    convert: Convert,
    skipped_rows: Iterable[int],
    summary: ImportApplied,
) -> Iterator[Event]:
    """The events of the rows the first pass accepted, then the import's summary.

    The first pass decided every row, repeats included; here each row it did not reject (or find applied
    already) is checked again on its own, which gives the same event, so nothing is kept between the passes
    but the skipped rows' numbers.
    """
    skipped = iter(skipped_rows)
    next_skipped = next(skipped, None)
    with open_table(path, req.kind) as table:
        for source in table.rows():
            if source.row == next_skipped:
                next_skipped = next(skipped, None)
                continue
            typed, problems = convert(source)
            outcome = problems if typed is None or problems else _alone(check, typed)
            if isinstance(outcome, list):
                raise RuntimeError(f"row {source.row} was accepted by the first pass but not the second: {outcome}")
            yield outcome
    yield summary


def _alone(check: Checker, row: TypedRow) -> Event | list[str]:
    """A row's outcome with no repeat before it, as the first pass found it for every row it accepted."""
    if isinstance(row, NomineeRow):
        assert isinstance(check, NominationCheck)
        return check.decide(check.screen(row), id_seen=False, person_seen=False)
    assert not isinstance(check, NominationCheck)
    (record,) = _records([row])
    return _screen(check, record) or _decide(check, record, repeated=False)


# A seven-phase cohort's records check takes its typed rows; a block template's, generic block records.
def _screen(check: RecordCheck | SubmissionCheck, row: RecordRow | SubmissionRow) -> list[str]:
    if isinstance(check, SubmissionCheck):
        assert isinstance(row, SubmissionRow)
        return check.screen(row)
    assert not isinstance(row, SubmissionRow)
    return check.screen(row)


def _repeat_key(check: RecordCheck | SubmissionCheck, row: RecordRow | SubmissionRow) -> tuple[str, str]:
    if isinstance(check, SubmissionCheck):
        assert isinstance(row, SubmissionRow)
        return check.repeat_key(row)
    assert not isinstance(row, SubmissionRow)
    return check.repeat_key(row)


def _decide(
    check: RecordCheck | SubmissionCheck, row: RecordRow | SubmissionRow, *, repeated: bool
) -> Event | list[str]:
    if isinstance(check, SubmissionCheck):
        assert isinstance(row, SubmissionRow)
        return check.decide(row, repeated=repeated)
    assert not isinstance(row, SubmissionRow)
    return check.decide(row, repeated=repeated)


def _checker(req: ImportRecords, programme: AnyTemplate, facts: CohortFacts, keys: PersonKeys) -> Checker:
    if isinstance(programme, ProgrammeTemplate) and req.kind != "nominees":
        block = programme.block(req.block or "")
        intake = block.intake(req.kind) if block else None
        if block is None or intake is None:
            raise CommandRefused(phrase("block {block} takes no {kind} files", block=req.block, kind=req.kind))
        return SubmissionCheck(programme, facts, block, intake, req.prefecture)
    if req.kind != "nominees":
        assert not isinstance(programme, ProgrammeTemplate)
        return RecordCheck(programme, facts, req.prefecture)
    quotas = quotas_of(programme)
    # The people already in the cohort are in the import's key table (see _open_chunks), not in a set here.
    return NominationCheck(
        quotas,
        already=taken(quotas, ((p.prefecture_code, p.track) for p in facts.participants.values())),
        known_ids=facts.participants,
        prefecture=req.prefecture,
        keys=keys,
    )


def _converter(req: ImportRecords, programme: AnyTemplate) -> Convert:
    """How the file's rows are typed: a block template's records are generic block records."""
    if isinstance(programme, ProgrammeTemplate) and req.kind != "nominees":
        block = programme.block(req.block or "")
        intake = block.intake(req.kind) if block else None
        assert intake is not None, "checked by _checker first"
        return functools.partial(submission_row, intake)
    return functools.partial(typed_row, req.kind)


def _nominees(rows: Sequence[TypedRow]) -> list[NomineeRow]:
    nominees = [r for r in rows if isinstance(r, NomineeRow)]
    if len(nominees) != len(rows):
        raise TypeError("a nominee import got rows of another kind")
    return nominees


def _records(rows: Sequence[TypedRow]) -> list[RecordRow | SubmissionRow]:
    records = [r for r in rows if not isinstance(r, NomineeRow | RosterRow | PersonRow | CreditRow | ReversalRow)]
    if len(records) != len(rows):
        raise TypeError("a records import got nominee, roster or credit bank rows")
    return records


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch
