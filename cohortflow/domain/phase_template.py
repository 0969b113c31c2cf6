"""The original seven-phase template, read as a block template.

Seven-phase templates stay valid and keep their recorded form and digest; this
is how the same programme reads as blocks, one block per phase, one track with
the prefectures' quotas.
"""

from __future__ import annotations

from typing import Any

from cohortflow.domain.programme import Phase, Programme
from cohortflow.domain.template import ProgrammeTemplate


def as_blocks(p: Programme) -> ProgrammeTemplate:
    credits = {c.phase: {"hours": c.hours, "level": c.level} for c in p.credits}

    def block(phase: Phase, **settings: Any) -> dict[str, Any]:
        window = {"start_day": phase.start_day, "end_day": phase.end_day}
        granted = {"credits": credits[phase.kind]} if phase.kind in credits else {}
        return {"code": phase.kind, **window, **granted, **settings}

    rule = p.selection.model_dump(exclude={"replace_until"})
    settings: dict[str, dict[str, Any]] = {
        "nomination": {"kind": "enrolment", "mode": "nomination"},
        "online_study": {
            "kind": "online_study",
            "min_hours": p.online.min_hours,
            "deliverables": [d.model_dump() for d in p.deliverables],
            "required_deliverables": list(p.online.required_deliverables),
        },
        "selection": {
            "kind": "selection",
            "scores_from": "online_study",
            "rule": rule,
            "replace_until": p.selection.replace_until,
        },
        "field_study": {
            "kind": "residential_study",
            "sites": [s.model_dump() for s in p.field_study.sites],
            "min_attendance_ratio": p.field_study.min_attendance_ratio,
        },
        "return_to_post": {"kind": "return_to_post"},
        "follow_up": {"kind": "follow_up", "surveys": [s.model_dump() for s in p.follow_up]},
        "completion": {"kind": "completion", "requires": ["field_study", "return_to_post"]},
    }
    return ProgrammeTemplate.model_validate(
        {
            "id": p.id,
            "version": p.version,
            "name": p.name,
            "kind": p.kind,
            "prefectures": [{"code": pref.code, "name": pref.name} for pref in p.prefectures],
            "tracks": [
                {
                    "code": "main",
                    "name": p.name,
                    "quota": p.candidates,
                    "prefectures": [
                        {
                            "prefecture": pref.code,
                            "quota": pref.quota,
                            "min_selected": pref.min_selected,
                            "max_selected": pref.max_selected,
                        }
                        for pref in p.prefectures
                    ],
                }
            ],
            "stages": [block(phase, **settings[phase.kind]) for phase in p.phases],
        }
    )
