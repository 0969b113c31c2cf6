"""Field-study placement (分批次): spread the selected over sites and batches."""

from __future__ import annotations

from collections.abc import Sequence

from cohortflow.domain.events import FieldPlacementAssigned
from cohortflow.domain.phrases import phrase
from cohortflow.domain.programme import FieldStudy


class PlacementImpossible(ValueError):
    pass


def allocate(selected: Sequence[str], field_study: FieldStudy) -> list[FieldPlacementAssigned]:
    """Deal participants in selection order across all batches, each within its capacity.

    Dealing (rather than filling one batch after another) keeps every site's
    batches about equally full, so no site runs a near-empty batch.
    """
    slots = [(site.code, batch.code, batch.capacity) for site in field_study.sites for batch in site.batches]
    if len(selected) > sum(cap for _, _, cap in slots):
        raise PlacementImpossible(phrase("{count} participants exceed the field-study capacity", count=len(selected)))
    used = [0] * len(slots)
    placements = []
    i = 0
    for pid in selected:
        while used[i % len(slots)] >= slots[i % len(slots)][2]:
            i += 1
        site, batch, _ = slots[i % len(slots)]
        used[i % len(slots)] += 1
        placements.append(FieldPlacementAssigned(participant_id=pid, site=site, batch=batch))
        i += 1
    return placements
