"""A block template's cohort, as the feeder sees it: its open blocks, and each block's generated files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from temporalio.client import Client

from cohortflow.demo.block_files import block_files, nominees
from cohortflow.demo.csv_files import File
from cohortflow.demo.feeding import Progress, query_status
from cohortflow.domain.template import ProgrammeTemplate
from cohortflow.readmodels.cohort_facts import cohort_facts
from cohortflow.store.eventstore import EventStore
from cohortflow.workflows.block_cycle import BlockCycleStatus


@dataclass
class BlockFeed:
    client: Client
    store: EventStore
    cohort_id: str
    template: ProgrammeTemplate
    seed: int
    scoped: bool = True

    async def status(self) -> BlockCycleStatus:
        return BlockCycleStatus.model_validate(await query_status(self.client, self.cohort_id))

    async def progress(self) -> Progress:
        status = await self.status()
        return Progress(
            open=tuple(b.code for b in status.open_blocks), next_at=status.next_at, finished=status.finished
        )

    async def files(self, step: str) -> Sequence[File]:
        """The block's files, generated from the cohort's facts as they are."""
        block = self.template.block(step)
        assert block is not None
        if block.kind == "enrolment":
            return [nominees(self.template, self.seed)]
        return block_files(self.template, await cohort_facts(self.store, self.cohort_id), block, self.seed)
