"""Small hand-made programmes and event histories shared by the domain tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cohortflow.domain.events import (
    CandidateNominated,
    Event,
    FieldAttendanceRecorded,
    OnlineStudyRecorded,
    ReturnReportSubmitted,
    SelectionDecided,
    SurveyResponded,
)
from cohortflow.domain.facts import CohortFacts, fold
from cohortflow.domain.national_id import PersonKeys
from cohortflow.domain.programme import Programme, parse_programme

CHANGSHA, ZHUZHOU, XIANGTAN = "430100", "430200", "430300"


def template() -> dict[str, Any]:
    """A fresh, valid template: three prefectures, ten candidates, four places."""
    return {
        "id": "test-programme",
        "version": 1,
        "name": "测试项目·校长提高培训",
        "kind": "improvement",
        "candidates": 10,
        "phases": [
            {"kind": "nomination", "start_day": 0, "end_day": 10},
            {"kind": "online_study", "start_day": 10, "end_day": 40},
            {"kind": "selection", "start_day": 40, "end_day": 45},
            {"kind": "field_study", "start_day": 45, "end_day": 75},
            {"kind": "return_to_post", "start_day": 75, "end_day": 105},
            {"kind": "follow_up", "start_day": 105, "end_day": 200},
            {"kind": "completion", "start_day": 200, "end_day": 201},
        ],
        "prefectures": [
            {"code": CHANGSHA, "name": "长沙市", "quota": 4},
            {"code": ZHUZHOU, "name": "株洲市", "quota": 3},
            {"code": XIANGTAN, "name": "湘潭市", "quota": 3},
        ],
        "deliverables": [
            {"code": "plan", "name": "写一份改进方案"},
            {"code": "reflection", "name": "写一篇反思论文"},
            {"code": "book", "name": "读一本书"},
        ],
        "online": {"min_hours": 100, "required_deliverables": ["plan"]},
        "selection": {"version": 1, "target": 4, "waiting_list": 2, "deliverable_weight": 10.0},
        "field_study": {
            "sites": [
                {
                    "code": "CS",
                    "name": "长沙",
                    "batches": [
                        {"code": "B1", "capacity": 5, "start_day": 0, "days": 14},
                        {"code": "B2", "capacity": 5, "start_day": 14, "days": 14},
                    ],
                }
            ],
            "min_attendance_ratio": 0.8,
        },
        "follow_up": [{"code": "m1", "after_days": 30}, {"code": "m6", "after_days": 90}],
        "credits": [
            {"phase": "online_study", "hours": 50, "level": "province"},
            {"phase": "field_study", "hours": 60, "level": "province"},
            {"phase": "return_to_post", "hours": 20, "level": "city"},
            {"phase": "follow_up", "hours": 10, "level": "district"},
            {"phase": "completion", "hours": 10, "level": "school"},
        ],
    }


def programme(**selection: Any) -> Programme:
    """The small template, with selection rule fields overridden."""
    data = template()
    data["selection"].update(selection)
    return parse_programme(data)


@dataclass(frozen=True)
class Stored:
    """What a store hands back: enough for :class:`CohortFacts` to fold."""

    position: int
    type: str
    data: dict[str, Any]
    schema_version: int = 1


class History:
    """An in-memory event list with gap-free positions starting at 1."""

    def __init__(self) -> None:
        self.events: list[Stored] = []

    def add(self, event: Event) -> int:
        position = len(self.events) + 1
        self.events.append(Stored(position, event.TYPE, event.payload()))
        return position

    def facts(self) -> CohortFacts:
        return fold(self.events)

    def nominate(self, pid: str, prefecture: str = CHANGSHA) -> int:
        return self.add(
            CandidateNominated(
                participant_id=pid,
                person_key=key_of(pid),
                name="张伟",
                national_id="11010519491231002X",
                gender="M",
                prefecture_code=prefecture,
                school="长沙东区第一中学",
                role="校长",
            )
        )

    def study(self, pid: str, hours: float, deliverables: list[str]) -> int:
        return self.add(OnlineStudyRecorded(participant_id=pid, hours=hours, deliverables=deliverables))

    def select(self, selected: Sequence[str], waiting: Sequence[str] = ()) -> int:
        return self.add(
            SelectionDecided(
                rule_version=1,
                target=len(selected),
                input_digest="0" * 64,
                eligible=len(selected) + len(waiting),
                selected=list(selected),
                waiting_list=list(waiting),
            )
        )

    def attend(self, pid: str, present: int, total: int = 14) -> int:
        return self.add(
            FieldAttendanceRecorded(participant_id=pid, site="CS", batch="B1", days_present=present, days_total=total)
        )

    def report(self, pid: str) -> int:
        return self.add(ReturnReportSubmitted(participant_id=pid))

    def survey(self, pid: str, code: str) -> int:
        return self.add(SurveyResponded(participant_id=pid, survey=code, satisfaction=5))


KEYS = PersonKeys(bytes(range(32)))
"""How a store keys people, with a secret of the tests' own."""


def key_of(pid: str) -> str:
    return f"key-{pid}"
