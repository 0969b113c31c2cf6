"""Who pays for what in a block template's cohort: each block's funding lines, for the people it is for."""

from __future__ import annotations

from pydantic import BaseModel

from cohortflow.domain.block_progress import reaches
from cohortflow.domain.blocks.common import Payer
from cohortflow.domain.facts import CohortFacts
from cohortflow.domain.template import ProgrammeTemplate


class FundingRow(BaseModel):
    block: str
    block_name: str
    item: str
    payer: Payer
    per_person_yuan: float | None
    people: int
    """Everyone the block is for (their track; selected, after a selection), withdrawn people excepted."""
    total_yuan: float | None


class FundingReport(BaseModel):
    cohort_id: str
    rows: list[FundingRow]
    totals_by_payer: dict[str, float]
    """Yuan per payer over the lines that state an amount per person."""


def funding(
    cohort_id: str, template: ProgrammeTemplate, facts: CohortFacts, prefecture: str | None = None
) -> FundingReport:
    """Every funding line of every block, with the people it is paid for (of ``prefecture`` only, if given)."""
    people = [p for p in facts.participants.values() if prefecture is None or p.prefecture_code == prefecture]
    rows = []
    for block in template.stages:
        if not block.funding:
            continue
        count = sum(reaches(template, facts, p, block) for p in people)
        for line in block.funding:
            total = None if line.per_person_yuan is None else round(line.per_person_yuan * count, 2)
            rows.append(
                FundingRow(
                    block=block.code,
                    block_name=block.name,
                    item=line.item,
                    payer=line.payer,
                    per_person_yuan=line.per_person_yuan,
                    people=count,
                    total_yuan=total,
                )
            )
    totals: dict[str, float] = {}
    for row in rows:
        if row.total_yuan is not None:
            totals[row.payer] = round(totals.get(row.payer, 0.0) + row.total_yuan, 2)
    return FundingReport(cohort_id=cohort_id, rows=rows, totals_by_payer=totals)
