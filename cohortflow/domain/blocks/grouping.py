"""Groups with a leader, as residential study and placement form them: who is in which group, and who leads it."""

from __future__ import annotations

from dataclasses import dataclass

from cohortflow.domain.blocks.common import RecordContext
from cohortflow.domain.blocks.intake import GROUPS, LEADER_WORDS, SubmissionRow, items

LEADER_SUFFIX = "#leader"


def is_leader(row: SubmissionRow) -> bool:
    return row.text.strip().casefold() in LEADER_WORDS


@dataclass(frozen=True)
class GroupRules:
    size: int | None
    """People per group, the leader included; None: groups of any size."""

    def check(self, row: SubmissionRow, ctx: RecordContext) -> list[str]:
        where = f"row {row.row}"
        problems = []
        earlier = items(ctx.mine, GROUPS.kind)
        if row.item in earlier:
            return []  # the same membership again: it changes nothing and counts once
        if earlier:
            problems.append(f"{where}, participant_id: {row.participant_id} is already in group {next(iter(earlier))}")
        if self.size is not None and ctx.counts.get((GROUPS.kind, row.item), 0) >= self.size:
            problems.append(f"{where}, group: group {row.item} already has {self.size} people")
        if is_leader(row) and ctx.counts.get((GROUPS.kind, row.item + LEADER_SUFFIX), 0) >= 1:
            problems.append(f"{where}, leader: group {row.item} already has a leader")
        return problems

    @staticmethod
    def tallies(row: SubmissionRow) -> tuple[tuple[str, str], ...]:
        member = (GROUPS.kind, row.item)
        return (member, (GROUPS.kind, row.item + LEADER_SUFFIX)) if is_leader(row) else (member,)
