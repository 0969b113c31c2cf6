"""Completion: who completed (the named blocks' criteria all met), their credits and the completion record."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from cohortflow.domain.blocks.common import BlockBase, TemplateView


class Completion(BlockBase):
    kind: Literal["completion"] = "completion"
    requires: tuple[str, ...] = Field(description="Blocks whose criterion a participant must meet to complete")
    certificate: str | None = Field(default=None, description="Name of the certificate (结业证书) issued")

    def problems(self, view: TemplateView) -> Iterator[str]:
        if not self.requires:
            yield f"{self.label}: requires names no blocks"
        for code in self.requires:
            block = view.block(code)
            if block is None:
                yield f"{self.label}: requires unknown block {code!r}"
            elif not block.HAS_CRITERION or block.kind == self.kind:
                yield f"{self.label}: requires {code}, a {block.kind} block, which has no criterion to meet"
            elif block.end_day > self.start_day:
                yield f"{self.label}: requires {code}, which is still open when completion starts"
        if self.end_day != view.length_days:
            yield f"{self.label}: completion must be the last block to close"
