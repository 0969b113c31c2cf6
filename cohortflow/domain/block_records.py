"""Imported records of a block template's cohort: each row checked against the cohort and the block it goes to.

The cohort decides who may have records in the block (known, in the
coordinator's prefecture, not withdrawn, the block is for them); the block
decides whether the record makes sense for its settings. Rows come in file
order; limits such as a host's capacity count the rows accepted before.
"""

from __future__ import annotations

from collections import Counter

from cohortflow.domain.block_progress import reaches, track_of
from cohortflow.domain.blocks.common import BlockBase, RecordContext
from cohortflow.domain.blocks.intake import Intake, SubmissionRow
from cohortflow.domain.events import AnonymousAnswerRecorded, Event, SubmissionRecorded
from cohortflow.domain.facts import CohortFacts
from cohortflow.domain.phrases import phrase
from cohortflow.domain.records import has_withdrawn, not_yours, unknown_participant
from cohortflow.domain.template import ProgrammeTemplate


class SubmissionCheck:
    """Check rows of one import kind for one block; :meth:`screen` then :meth:`decide`, in file order."""

    def __init__(
        self,
        template: ProgrammeTemplate,
        facts: CohortFacts,
        block: BlockBase,
        intake: Intake,
        prefecture: str | None = None,
    ) -> None:
        self.template = template
        self.facts = facts
        self.block = block
        self.intake = intake
        self.prefecture = prefecture
        self.counts: Counter[tuple[str, str]] = Counter()
        for p in facts.participants.values():
            for (kind, item), rec in p.records(block.code).items():
                if kind == intake.kind:
                    self.counts.update(
                        block.tallies(intake, SubmissionRow(0, p.participant_id, item, rec.number, rec.text))
                    )

    def repeat_key(self, r: SubmissionRow) -> tuple[str, str]:
        """What may appear once per file: a participant's record of one item; anonymous answers never repeat."""
        return (f"#{r.row}", "") if self.intake.anonymous else (r.participant_id, r.item)

    def screen(self, r: SubmissionRow) -> list[str]:
        """Whether the row's participant may have records in the block at all."""
        if self.intake.anonymous:
            return []
        where = phrase("row {row}", row=r.row)
        p = self.facts.participants.get(r.participant_id)
        if p is None:
            return [unknown_participant(where, r.participant_id)]
        if self.prefecture is not None and p.prefecture_code != self.prefecture:
            return [not_yours(where, r.participant_id, p.prefecture_code)]
        if p.withdrawn:
            return [has_withdrawn(where, r.participant_id)]
        if not reaches(self.template, self.facts, p, self.block):
            track = track_of(self.template, p)
            if self.block.applies_to(track):
                return [
                    phrase(
                        "{where}, participant_id: block {block} is not for {participant_id}, "
                        "who was not selected for it",
                        where=where,
                        block=self.block.code,
                        participant_id=r.participant_id,
                    )
                ]
            return [
                phrase(
                    "{where}, participant_id: block {block} is not for {participant_id}, who is in track {track}",
                    where=where,
                    block=self.block.code,
                    participant_id=r.participant_id,
                    track=track,
                )
            ]
        return []

    def decide(self, r: SubmissionRow, *, repeated: bool) -> Event | list[str]:
        """The row's event, or its problems, for a row that passed :meth:`screen`."""
        if repeated:
            where = phrase("row {row}", row=r.row)
            if not r.item:
                return [
                    phrase(
                        "{where}, participant_id: {participant_id} appears twice in this file for it",
                        where=where,
                        participant_id=r.participant_id,
                    )
                ]
            return [
                phrase(
                    "{where}, participant_id: {participant_id} appears twice in this file for {item}",
                    where=where,
                    participant_id=r.participant_id,
                    item=r.item,
                )
            ]
        if self.intake.anonymous:
            problems = self.block.check_record(self.intake, r, RecordContext(mine={}))
            if problems:
                return problems
            return AnonymousAnswerRecorded(block=self.block.code, kind=self.intake.kind, number=r.number, text=r.text)
        p = self.facts.participants[r.participant_id]
        mine = p.records(self.block.code)
        ctx = RecordContext(mine=mine, counts=self.counts, school_level=p.school_level)
        problems = self.block.check_record(self.intake, r, ctx)
        if problems:
            return problems
        if (self.intake.kind, r.item) not in mine:
            self.counts.update(self.block.tallies(self.intake, r))
        return SubmissionRecorded(
            block=self.block.code,
            kind=self.intake.kind,
            participant_id=r.participant_id,
            item=r.item,
            number=r.number,
            text=r.text,
        )
