"""Return to post (返岗实践): practice back at the home school, ending with a practice report."""

from __future__ import annotations

from typing import Literal

from cohortflow.domain.blocks.common import BlockBase


class ReturnToPost(BlockBase):
    kind: Literal["return_to_post"] = "return_to_post"

    def submissions(self) -> frozenset[str]:
        return frozenset({"return_reports"})
