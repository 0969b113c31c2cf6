"""Imports: an uploaded file, named by its content digest, checked and applied in one transaction.

The file is read twice and never held in memory: the first pass checks every
row (and writes rejected rows to a file an administrator can download and fix),
the second streams the good rows' events into the store. With any bad row
nothing is applied, unless the request accepts a partial import. The step is
keyed by kind and digest, so uploading the same file again changes nothing.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from temporalio import activity

from cohortflow.activities.base import CohortActivities, CohortRef, refusals_are_final
from cohortflow.domain.events import Event, ImportApplied, ImportKind
from cohortflow.domain.facts import CohortFacts
from cohortflow.domain.nomination import NominationCheck, NomineeRow
from cohortflow.domain.programme import Programme
from cohortflow.domain.records import RecordCheck
from cohortflow.imports.reading import FileRefused, SourceRow, open_table
from cohortflow.imports.typed import typed_row

REPORTED_PROBLEMS = 200
"""Problems returned in the answer; the rejects file holds every one."""
HEARTBEAT_EVERY = 2_000


class ImportRecords(BaseModel):
    ref: CohortRef
    kind: ImportKind
    digest: str
    filename: str
    accept_partial: bool = False
    prefecture: str | None = None
    """A coordinator's prefecture: rows of other prefectures are rejected."""


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


def rejects_path(uploads: Path, digest: str) -> Path:
    return uploads / f"{digest}.rejects.csv"


Checker = NominationCheck | RecordCheck


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
            return ImportOutcome(
                status="duplicate",
                kind=req.kind,
                digest=req.digest,
                rows=done.rows,
                applied=done.applied,
                rejected=done.rejected,
            )
        path = self.uploads / req.digest
        if not path.is_file():
            return _refused(req, f"no uploaded file has digest {req.digest}")
        programme = await self.programme(req.ref)
        facts = await self.facts(req.ref)
        rejects = rejects_path(self.uploads, req.digest) if req.accept_partial else None
        try:
            tally = self._first_pass(req, path, programme, facts, rejects)
        except FileRefused as exc:
            return _refused(req, str(exc))
        if tally.rows == 0:
            return _refused(req, "the file has no data rows")
        good = tally.rows - tally.rejected
        if good == 0 or (tally.rejected and not req.accept_partial):
            return tally.outcome(req, "refused", rejects_file=rejects is not None)
        summary = ImportApplied(
            kind=req.kind,
            digest=req.digest,
            filename=req.filename,
            rows=tally.rows,
            applied=good,
            rejected=tally.rejected,
        )
        await self.append(
            req.ref,
            step,
            self._second_pass(req, path, programme, facts, summary),
            programme=programme,
            count=good + 1,
        )
        return tally.outcome(req, "applied", applied=good, rejects_file=rejects is not None and tally.rejected > 0)

    def _first_pass(
        self, req: ImportRecords, path: Path, programme: Programme, facts: CohortFacts, rejects: Path | None
    ) -> _Tally:
        """Check every row; with ``rejects``, write each bad row there with its reasons."""
        tally = _Tally()
        with contextlib.ExitStack() as stack:
            writer = None
            for source, outcome in self._checked(req, path, programme, facts):
                tally.rows += 1
                if tally.rows % HEARTBEAT_EVERY == 0:
                    activity.heartbeat(tally.rows)
                if not isinstance(outcome, list):
                    continue
                tally.reject(outcome)
                if rejects is not None:
                    if writer is None:
                        out = stack.enter_context(rejects.open("w", encoding="utf-8-sig", newline=""))
                        writer = csv.writer(out)
                        writer.writerow(["row", "problems", *source.values])
                    writer.writerow([source.row, "; ".join(outcome), *source.values.values()])
        return tally

    def _second_pass(
        self, req: ImportRecords, path: Path, programme: Programme, facts: CohortFacts, summary: ImportApplied
    ) -> Iterator[Event]:
        """The good rows' events, checked again exactly as in the first pass, then the import's summary."""
        for _, outcome in self._checked(req, path, programme, facts):
            if not isinstance(outcome, list):
                yield outcome
        yield summary

    def _checked(
        self, req: ImportRecords, path: Path, programme: Programme, facts: CohortFacts
    ) -> Iterator[tuple[SourceRow, Event | list[str]]]:
        check = _checker(req, programme, facts)
        with open_table(path, req.kind) as table:
            for source in table.rows():
                typed, problems = typed_row(req.kind, source)
                if typed is None or problems:
                    yield source, problems
                elif isinstance(typed, NomineeRow):
                    assert isinstance(check, NominationCheck)
                    yield source, check.check(typed)
                else:
                    assert isinstance(check, RecordCheck)
                    yield source, check.check(typed)


def _checker(req: ImportRecords, programme: Programme, facts: CohortFacts) -> Checker:
    if req.kind != "nominees":
        return RecordCheck(programme, facts, req.prefecture)
    return NominationCheck(
        programme,
        already=facts.nominations_by_prefecture(),
        known_people={p.person_key for p in facts.participants.values()},
        known_ids=set(facts.participants),
        prefecture=req.prefecture,
    )
