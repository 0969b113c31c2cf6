"""What a block takes in by import: each kind of file, read as generic records of the block.

Every fact a block receives (hours, a deliverable, a day's attendance, a task
count, a score, a log entry) is one record: a participant, an item (which
deliverable, task, survey, round…), a number and a text. A block kind says
which import kinds it takes (:class:`Intake`), checks each record against its
own settings, and decides its criterion from the records it holds, so the
store, the import path and the fold need no code per kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cohortflow.domain.vocabulary import ImportKind

ITEM_SEPARATOR = "/"


@dataclass(frozen=True)
class Intake:
    """How rows of one import kind become records of a block: which columns give the item, the number, the text."""

    kind: ImportKind
    item: tuple[str, ...] = ()
    """Columns naming the item, joined by '/' (e.g. an evaluation's round and assessor)."""
    number: str | None = None
    whole: bool = False
    """The number must be a whole number (days, counts, ratings)."""
    text: str | None = None
    anonymous: bool = False
    """Rows carry no participant: answers are never linked to a person."""
    submission: str | None = None
    """What a reminder rule calls one item of an itemised kind: ``submission:item`` (``task:demo-lesson``);
    other kinds are called by their own name."""


@dataclass(frozen=True)
class SubmissionRow:
    """One import row read as a block record; ``participant_id`` is empty for anonymous answers."""

    row: int
    participant_id: str
    item: str
    number: float | None
    text: str


@dataclass(frozen=True, slots=True)
class Record:
    """The latest record of one participant, block, kind and item, and where it is in the history."""

    number: float | None
    text: str
    position: int


Records = Mapping[tuple[str, str], Record]
"""One participant's records in one block, by (import kind, item)."""


def items(records: Records, kind: str) -> dict[str, Record]:
    return {item: rec for (k, item), rec in records.items() if k == kind}


def one(records: Records, kind: str, item: str = "") -> Record | None:
    return records.get((kind, item))


NOMINEES = Intake("nominees")
"""People, not records: enrolment reads them as nominations (see the nomination check)."""
STUDY_RECORDS = Intake("study_records", number="hours")
DELIVERABLES = Intake("deliverables", item=("deliverable",), submission="deliverable")
ATTENDANCE = Intake("attendance", item=("site", "batch"), number="days_present", whole=True)
GROUPS = Intake("groups", item=("group",), text="leader")
PLACEMENTS = Intake("placements", item=("host",))
MENTORS = Intake("mentors", text="mentor")
TASKS = Intake("tasks", item=("task",), number="count", whole=True, text="summary", submission="task")
DAILY_LOG = Intake("daily_log", item=("date",), text="entry")
HOST_ASSESSMENT = Intake("host_assessment", number="score")
HOME_REPORT = Intake("home_report", text="title")
RETURN_REPORTS = Intake("return_reports")
EVALUATION_SCORES = Intake("evaluation_scores", item=("round", "assessor"), number="score")
SATISFACTION = Intake("satisfaction", number="satisfaction", whole=True, text="comment", anonymous=True)
SURVEYS = Intake("follow_up", item=("survey",), number="satisfaction", whole=True, submission="survey")
RATING = (1, 5)
"""The satisfaction scale of surveys and anonymous answers."""
LEADER_WORDS = frozenset({"yes", "y", "true", "1", "是", "组长", "leader"})
