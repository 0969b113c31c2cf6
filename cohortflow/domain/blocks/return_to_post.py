"""Return to post (返岗实践): practice back at the home school, ending with a practice report."""

from __future__ import annotations

from typing import Literal

from cohortflow.domain.blocks.common import BlockBase
from cohortflow.domain.blocks.intake import RETURN_REPORTS, Records, one


class ReturnToPost(BlockBase):
    INTAKES = (RETURN_REPORTS,)
    kind: Literal["return_to_post"] = "return_to_post"

    def submissions(self) -> frozenset[str]:
        return frozenset({"return_reports"})

    def met(self, records: Records) -> tuple[int, ...] | None:
        report = one(records, RETURN_REPORTS.kind)
        return None if report is None else (report.position,)
