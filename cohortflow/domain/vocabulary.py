"""Closed vocabularies of the seven-phase cycle that commands name: import kinds and correctable fields.

Kept free of imports so that the CLI can offer them as choices without loading the domain.
"""

from __future__ import annotations

from typing import Literal

ImportKind = Literal["nominees", "study_records", "deliverables", "attendance", "return_reports", "follow_up"]
CorrectableField = Literal["name", "school", "role", "hours", "days_present"]
