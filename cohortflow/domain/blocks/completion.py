"""Completion: who completed (the named blocks' criteria all met), their credits and the completion record."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from cohortflow.domain.blocks.common import BlockBase, TemplateView
from cohortflow.domain.phrases import phrase


class Completion(BlockBase):
    kind: Literal["completion"] = "completion"
    requires: tuple[str, ...] = Field(description="Blocks whose criterion a participant must meet to complete")
    certificate: str | None = Field(default=None, description="Name of the certificate (结业证书) issued")

    def problems(self, view: TemplateView) -> Iterator[str]:
        if not self.requires:
            yield phrase("{block}: requires names no blocks", block=self.label)
        for code in self.requires:
            block = view.block(code)
            if block is None:
                yield phrase("{block}: requires unknown block {code}", block=self.label, code=repr(code))
            elif not block.HAS_CRITERION or block.kind == self.kind:
                yield phrase(
                    "{block}: requires {code}, a {kind} block, which has no criterion to meet",
                    block=self.label,
                    code=code,
                    kind=block.kind,
                )
            elif block.end_day > self.start_day:
                yield phrase(
                    "{block}: requires {code}, which is still open when completion starts", block=self.label, code=code
                )
        if self.end_day != view.length_days:
            yield phrase("{block}: completion must be the last block to close", block=self.label)
