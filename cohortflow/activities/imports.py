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
request accepts a partial import. The step is keyed by kind and digest, so
uploading the same file again changes nothing.
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
from temporalio import activity

from cohortflow.activities.base import CohortActivities, CohortRef, refusals_are_final
from cohortflow.activities.plan_enrolments import PlanNominations, plan_nominations
from cohortflow.activities.rejects import RejectsOwner, RejectsWriter, import_id
from cohortflow.activities.repeats import KeyTable, text_key
from cohortflow.domain.block_records import SubmissionCheck
from cohortflow.domain.blocks.intake import SubmissionRow
from cohortflow.domain.cycle import CommandRefused
from cohortflow.domain.events import Event, ImportApplied, ImportKind
from cohortflow.domain.facts import CohortFacts
from cohortflow.domain.national_id import PersonKeys
from cohortflow.domain.nomination import NominationCheck, NomineeRow
from cohortflow.domain.quotas import quotas_of, taken
from cohortflow.domain.records import RecordCheck, RecordRow
from cohortflow.domain.rotation_plan import RosterRow
from cohortflow.domain.template import AnyTemplate, ProgrammeTemplate
from cohortflow.imports.reading import FileRefused, SourceRow, open_table
from cohortflow.imports.typed import TypedRow, submission_row, typed_row

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


def upload_path(uploads: Path, digest: str) -> Path:
    """Where an uploaded file lies: under its SHA-256 digest, so the same content is one file."""
    return uploads / digest


Checker = NominationCheck | RecordCheck | SubmissionCheck
Convert = Callable[[SourceRow], tuple[TypedRow | None, list[str]]]


@dataclass
class _Tally:
    rows: int = 0
    rejected: int = 0
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0

    def reject(self, problems: list[str]) -> None:
        self.rejected += 1
        self.problem_count += len(problems)
        self.problems.extend(problems[: max(0, REPORTED_PROBLEMS - len(self.problems))])

    def outcome(self, req: ImportRecords, status: Literal["applied", "refused"], **more: Any) -> ImportOutcome:
        return ImportOutcome(
            status=status,
            kind=req.kind,
            digest=req.digest,
            rows=self.rows,
            rejected=self.rejected,
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
        step = f"import/{req.kind}/{req.digest}"
        earlier = await self.store.recorded(f"{req.ref.workflow_id}/{step}")
        if earlier is not None:
            done = ImportApplied.model_validate(earlier[-1].data)
            retried = done.request_id is not None and done.request_id == req.request_id
            return ImportOutcome(
                status="applied" if retried else "duplicate",
                kind=req.kind,
                digest=req.digest,
                rows=done.rows,
                applied=done.applied,
                rejected=done.rejected,
            )
        path = upload_path(self.uploads, req.digest)
        if not path.is_file():
            return _refused(req, f"no uploaded file has digest {req.digest}")
        programme = await self.pinned(req.ref)
        facts = await self.facts(req.ref)
        rejects = self._rejects_writer(req, step) if req.accept_partial else None
        plan = None
        if req.plan_id is not None and req.kind == "nominees":
            plan = await plan_nominations(self.store, req.plan_id, req.ref.cohort_id)
        with contextlib.closing(_RowNumbers()) as rejected, contextlib.ExitStack() as cleanup:
            if rejects is not None:
                cleanup.callback(rejects.close)
            try:
                tally = await self._first_pass(req, path, programme, facts, plan, rejects, rejected)
            except FileRefused as exc:
                return _refused(req, str(exc))
            if tally.rows == 0:
                return _refused(req, "the file has no data rows")
            good = tally.rows - tally.rejected
            if good == 0 or (tally.rejected and not req.accept_partial):
                return _kept(rejects, tally.outcome(req, "refused"))
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
                    rejected,
                    summary,
                ),
                programme=programme,
                count=good + 1,
            )
        return outcome

    def _rejects_writer(self, req: ImportRecords, step: str) -> RejectsWriter:
        """Where this import keeps its rejected rows: its own file, scoped to its importer."""
        who = f"{req.request_id or ''}\n{req.ref.actor}\n{req.prefecture or ''}"
        owner = RejectsOwner(
            import_id=import_id(req.ref.workflow_id, f"{step}\n{who}"),
            digest=req.digest,
            kind=req.kind,
            cohort_id=req.ref.cohort_id,
            actor=req.ref.actor,
            prefecture=req.prefecture,
            created=time.time(),
        )
        return RejectsWriter(self.uploads, owner)

    async def _first_pass(
        self,
        req: ImportRecords,
        path: Path,
        programme: AnyTemplate,
        facts: CohortFacts,
        plan: PlanNominations | None,
        rejects: RejectsWriter | None,
        rejected: _RowNumbers,
    ) -> _Tally:
        """Check every row; note each bad row's number in ``rejected`` and, with ``rejects``, the row and its
        reasons there. In a rotation plan's cohort, nominees enrolled in its other cohorts, or not on its roster,
        are refused.

        The key tables live in a transaction that is always rolled back: the check writes nothing that stays.
        """
        tally = _Tally()
        async with self.store.pool.connection() as conn, conn.transaction(force_rollback=True):
            chunks = await _open_chunks(
                conn, _checker(req, programme, facts, await self.store.person_keys(conn)), facts, plan
            )
            convert = _converter(req, programme)
            async with contextlib.aclosing(_checked(chunks, req.kind, convert, path)) as checked:
                async for source, problems in checked:
                    tally.rows += 1
                    if tally.rows % HEARTBEAT_EVERY == 0:
                        activity.heartbeat(tally.rows)
                    if not problems:
                        continue
                    tally.reject(problems)
                    rejected.add(source.row)
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


class _Chunks(Protocol):
    async def problems(self, rows: Sequence[TypedRow]) -> list[list[str]]:
        """Each row's problems (none: it is good), for rows that follow every row given before."""
        ...


class _NomineeChunks:
    """Nominee rows: every row's participant id, and every nominated person, go to the key tables.

    A row's participant id is a repeat if it is on any earlier row; its person only if an earlier row
    nominated them (one refused over a quota may be nominated on a later row) or they are in the cohort
    already. That is decided row by row, so the people nominated by the chunk are held until it is done.
    In a rotation plan's cohort, who is enrolled in its other cohorts or on its roster is looked up a chunk at a time.
    """

    def __init__(
        self,
        check: NominationCheck,
        ids: KeyTable,
        people: KeyTable,
        conn: AsyncConnection[TupleRow],
        plan: PlanNominations | None,
    ) -> None:
        self.check = check
        self.ids = ids
        self.people = people
        self.conn = conn
        self.plan = plan

    async def problems(self, rows: Sequence[TypedRow]) -> list[list[str]]:
        screened = [self.check.screen(r) for r in _nominees(rows)]
        repeated = await self.ids.repeats([(text_key(s.row.participant_id), s.row.row) for s in screened])
        keys = {s.person_key for s in screened if s.person_key}
        earlier = await self.people.recorded(keys)
        enrolled, listed = await self.plan.lookup(self.conn, keys) if self.plan else ({}, None)
        off_roster_of = self.plan.plan_id if self.plan else None
        nominated: dict[str, int] = {}
        found: list[list[str]] = []
        for s in screened:
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
    """Record rows: the repeat key of every row whose participant may have records goes to the key table."""

    def __init__(self, check: RecordCheck | SubmissionCheck, keys: KeyTable) -> None:
        self.check = check
        self.keys = keys

    async def problems(self, rows: Sequence[TypedRow]) -> list[list[str]]:
        records = _records(rows)
        screened = [_screen(self.check, r) for r in records]
        keyed = [
            (text_key(*_repeat_key(self.check, r)), r.row)
            for r, problems in zip(records, screened, strict=True)
            if not problems
        ]
        repeated = await self.keys.repeats(keyed)
        found: list[list[str]] = []
        for r, problems in zip(records, screened, strict=True):
            outcome = problems or _decide(self.check, r, repeated=r.row in repeated)
            found.append(outcome if isinstance(outcome, list) else [])
        return found


async def _open_chunks(
    conn: AsyncConnection[TupleRow], check: Checker, facts: CohortFacts, plan: PlanNominations | None
) -> _Chunks:
    """The chunked check of ``check``'s kind, with its key tables made in ``conn``'s transaction."""
    if not isinstance(check, NominationCheck):
        return _RecordChunks(check, await KeyTable.create(conn, "import_record_keys"))
    ids = await KeyTable.create(conn, "import_participant_ids")
    people = await KeyTable.create(conn, "import_people")
    for known in _batched(((p.person_key, 0) for p in facts.participants.values()), 10 * CHUNK_ROWS):
        await people.add(known)  # row 0: before the file
    return _NomineeChunks(check, ids, people, conn, plan)


async def _checked(
    chunks: _Chunks, kind: ImportKind, convert: Convert, path: Path
) -> AsyncGenerator[tuple[SourceRow, list[str]]]:
    """Every row of the file with its problems (none: it is good), in file order."""
    with open_table(path, kind) as table:
        for sources in _batched(table.rows(), CHUNK_ROWS):
            typed = [convert(source) for source in sources]
            found = iter(await chunks.problems([t for t, problems in typed if t is not None and not problems]))
            for source, (t, problems) in zip(sources, typed, strict=True):
                yield source, (problems if t is None or problems else next(found))


def _second_pass(
    req: ImportRecords,
    path: Path,
    check: Checker,
    convert: Convert,
    rejected: Iterable[int],
    summary: ImportApplied,
) -> Iterator[Event]:
    """The events of the rows the first pass accepted, then the import's summary.

    The first pass decided every row, repeats included; here each row it did not reject is checked again on
    its own, which gives the same event, so nothing is kept between the passes but the rejected rows' numbers.
    """
    skipped = iter(rejected)
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
            raise CommandRefused(f"block {req.block} takes no {req.kind} files")
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
    records = [r for r in rows if not isinstance(r, NomineeRow | RosterRow)]
    if len(records) != len(rows):
        raise TypeError("a records import got nominee or roster rows")
    return records


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch
