"""Groups with a leader, as residential study and placement form them: who is in which group, and who leads it."""

from __future__ import annotations

from dataclasses import dataclass

from cohortflow.domain.blocks.common import RecordContext
from cohortflow.domain.blocks.intake import GROUPS, LEADER_WORDS, SubmissionRow, items
from cohortflow.domain.phrases import phrase

LEADER_SUFFIX = "#leader"


def is_leader(row: SubmissionRow) -> bool:
    return row.text.strip().casefold() in LEADER_WORDS


@dataclass(frozen=True)
class GroupRules:
    size: int | None
    """People per group, the leader included; None: groups of any size."""

    def check(self, row: SubmissionRow, ctx: RecordContext) -> list[str]:
        where = phrase("row {row}", row=row.row)
        problems = []
        earlier = items(ctx.mine, GROUPS.kind)
        if row.item in earlier:
            return []  # the same membership again: it changes nothing and counts once
        if earlier:
            problems.append(
                phrase(
                    "{where}, participant_id: {participant_id} is already in group {group}",
                    where=where,
                    participant_id=row.participant_id,
                    group=next(iter(earlier)),
                )
            )
        if self.size is not None and ctx.counts.get((GROUPS.kind, row.item), 0) >= self.size:
            problems.append(
                phrase(
                    "{where}, group: group {group} already has {size} people",
                    where=where,
                    group=row.item,
                    size=self.size,
                )
            )
        if is_leader(row) and ctx.counts.get((GROUPS.kind, row.item + LEADER_SUFFIX), 0) >= 1:
            problems.append(phrase("{where}, leader: group {group} already has a leader", where=where, group=row.item))
        return problems

    @staticmethod
    def tallies(row: SubmissionRow) -> tuple[tuple[str, str], ...]:
        member = (GROUPS.kind, row.item)
        return (member, (GROUPS.kind, row.item + LEADER_SUFFIX)) if is_leader(row) else (member,)
