"""The phases every cohort passes through, in order."""

from __future__ import annotations

from typing import Literal

PhaseKind = Literal[
    "nomination",
    "online_study",
    "selection",
    "field_study",
    "return_to_post",
    "follow_up",
    "completion",
]
PHASE_ORDER: tuple[PhaseKind, ...] = (
    "nomination",
    "online_study",
    "selection",
    "field_study",
    "return_to_post",
    "follow_up",
    "completion",
)
