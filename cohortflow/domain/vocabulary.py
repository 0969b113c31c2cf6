"""Closed vocabularies that commands name: import kinds and correctable fields.

Kept free of imports so that the CLI can offer them as choices without loading the domain.
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo

PhaseImportKind = Literal["nominees", "study_records", "deliverables", "attendance", "return_reports", "follow_up"]
"""What the seven-phase form imports; block templates take these too."""
BlockImportKind = Literal[
    "groups",
    "placements",
    "mentors",
    "tasks",
    "daily_log",
    "host_assessment",
    "home_report",
    "evaluation_scores",
    "satisfaction",
]
"""What only block templates import (placement, residential study, evaluation)."""
ImportKind = Literal[PhaseImportKind, BlockImportKind]
CorrectableField = Literal["name", "school", "role", "hours", "days_present"]

DEFAULT_TIME_ZONE = "Asia/Shanghai"
"""The programmes' time zone unless a template's reminders name another: deadlines and reminders are set in it."""
PROVINCE_ZONE = ZoneInfo(DEFAULT_TIME_ZONE)
"""The zone a day of the credit bank, a review or a certificate is counted in."""
