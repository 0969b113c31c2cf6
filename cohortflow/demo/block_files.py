"""Generated import files for any block template: its people, and each block's records as an office would send them.

Used by ``cohortflow demo --programme`` and the tests. Every file is a CSV
with the canonical English headers of its import kind, so it travels the
same path as an administrator's upload. Most people meet each block; a
deterministic few fall short, so completion and credits have something to
decide. The same seed always gives the same files.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, timedelta

from cohortflow.demo.csv_files import File, csv_file, nominee_cells
from cohortflow.demo.sample import nominee
from cohortflow.domain.block_progress import reaches
from cohortflow.domain.blocks.common import BlockBase
from cohortflow.domain.blocks.evaluation import Evaluation
from cohortflow.domain.blocks.follow_up import FollowUp
from cohortflow.domain.blocks.online_study import OnlineStudy
from cohortflow.domain.blocks.placement import Placement
from cohortflow.domain.blocks.residential_study import ResidentialStudy
from cohortflow.domain.blocks.return_to_post import ReturnToPost
from cohortflow.domain.facts import CohortFacts, ParticipantFacts
from cohortflow.domain.template import ProgrammeTemplate
from cohortflow.domain.vocabulary import ImportKind

SHORTFALL = 0.08
"""The share of people who fall short of each block."""
FALLBACK_PREFECTURE = ("430100", "长沙市")


def nominees(template: ProgrammeTemplate, seed: int) -> File:
    """Everyone the template has places for, filling each track's quotas, with a school level hosts can match."""
    names = {p.code: p.name for p in template.prefectures}
    levels = _levels(template)
    rows: list[dict[str, object]] = []
    for track in template.tracks:
        shares = [(q.prefecture, q.quota) for q in track.prefectures] or [
            ((template.prefectures[0].code if template.prefectures else FALLBACK_PREFECTURE[0]), track.quota)
        ]
        for code, quota in shares:
            for _ in range(quota):
                row = nominee(len(rows) + 1, code, names.get(code, FALLBACK_PREFECTURE[1]), seed)
                rows.append(nominee_cells(row, track=track.code, school_level=next(levels, "primary")))
    return csv_file("nominees", rows)


def _levels(template: ProgrammeTemplate) -> Iterator[str]:
    """School levels in proportion to the first matching placement's host places."""
    placement = next((b for b in template.stages if isinstance(b, Placement) and b.match_school_level), None)
    if placement is None:
        return iter(())
    return itertools.cycle([h.school_level for h in placement.hosts for _ in range(h.capacity)])


def block_files(template: ProgrammeTemplate, facts: CohortFacts, block: BlockBase, seed: int) -> list[File]:
    """The files ``block`` receives while it is open, for everyone it is for."""
    people = [facts.participants[p] for p in sorted(facts.participants)]
    make = _FILES.get(block.kind)
    return make(template, block, [p for p in people if reaches(template, facts, p, block)], seed) if make else []


def _short(seed: int, pid: str, block: BlockBase) -> bool:
    return random.Random(f"{seed}:{pid}:{block.code}").random() < SHORTFALL


def _online(template: ProgrammeTemplate, block: BlockBase, people: list[ParticipantFacts], seed: int) -> list[File]:
    assert isinstance(block, OnlineStudy)
    ids = [p.participant_id for p in people]
    hours = [
        {"participant_id": p, "hours": block.min_hours / 2 if _short(seed, p, block) else block.min_hours + 10}
        for p in ids
    ]
    handed = [
        {"participant_id": p, "deliverable": d.code}
        for p in ids
        for d in block.deliverables
        if d.code not in block.required_deliverables or not _short(seed, p, block)
    ]
    return [csv_file("study_records", hours), *([csv_file("deliverables", handed)] if handed else [])]


def _groups(people: list[ParticipantFacts], size: int | None) -> list[File]:
    if size is None:
        return []
    rows = [
        {"participant_id": p.participant_id, "group": f"G{i // size + 1}", "leader": "yes" if i % size == 0 else ""}
        for i, p in enumerate(people)
    ]
    return [csv_file("groups", rows)]


def _residential(
    template: ProgrammeTemplate, block: BlockBase, people: list[ParticipantFacts], seed: int
) -> list[File]:
    assert isinstance(block, ResidentialStudy)
    places = iter([(s.code, b) for s in block.sites for b in s.batches for _ in range(b.capacity)])
    rows = []
    for p in (who.participant_id for who in people):
        site, batch = next(places)
        present = batch.days // 2 if _short(seed, p, block) else batch.days
        rows.append({"participant_id": p, "days_present": present, "site": site, "batch": batch.code})
    return [csv_file("attendance", rows), *_groups(people, block.group_size)]


def _placement(template: ProgrammeTemplate, block: BlockBase, people: list[ParticipantFacts], seed: int) -> list[File]:
    assert isinstance(block, Placement)
    free = {h.code: h.capacity for h in block.hosts}
    placed, mentors, tasks, logs, scores, reports = [], [], [], [], [], []
    first = (template.starts_on or date(2026, 1, 1)) + timedelta(days=block.start_day)
    for who in people:
        p = who.participant_id
        host = next(
            h
            for h in block.hosts
            if free[h.code] and (not block.match_school_level or h.school_level == who.school_level)
        )
        free[host.code] -= 1
        short = _short(seed, p, block)
        placed.append({"participant_id": p, "host": host.code})
        mentors.append({"participant_id": p, "mentor": f"{host.name}导师"})
        for t in block.tasks:
            count = block.required_count(t) - (1 if short else 0)
            summary = "研修总结" * math.ceil((t.min_length or 0) / 4)
            tasks.append({"participant_id": p, "task": t.code, "count": max(count, 0), "summary": summary})
        if block.daily_log:
            for day in range(min(3, block.length)):
                logs.append(
                    {"participant_id": p, "date": (first + timedelta(days=day)).isoformat(), "entry": "听课、研讨"}
                )
        if block.host_assessment_pass_mark is not None:
            scores.append({"participant_id": p, "score": min(100, block.host_assessment_pass_mark + 15)})
        if block.report_home:
            reports.append({"participant_id": p, "title": "跟岗研修汇报"})
    files = [csv_file("placements", placed), csv_file("mentors", mentors), *_groups(people, block.group_size)]
    optional: list[tuple[ImportKind, Sequence[Mapping[str, object]]]] = [
        ("tasks", tasks),
        ("daily_log", logs),
        ("host_assessment", scores),
        ("home_report", reports),
    ]
    return files + [csv_file(kind, rows) for kind, rows in optional if rows]


def _return(template: ProgrammeTemplate, block: BlockBase, people: list[ParticipantFacts], seed: int) -> list[File]:
    assert isinstance(block, ReturnToPost)
    ids = [p.participant_id for p in people]
    return [csv_file("return_reports", [{"participant_id": p} for p in ids if not _short(seed, p, block)])]


def _evaluation(template: ProgrammeTemplate, block: BlockBase, people: list[ParticipantFacts], seed: int) -> list[File]:
    assert isinstance(block, Evaluation)
    ids = [p.participant_id for p in people]
    scores = [
        {
            "participant_id": p,
            "round": r.code,
            "assessor": a,
            "score": r.pass_mark - 10 if _short(seed, p, block) else min(r.max_score, r.pass_mark + 12),
        }
        for p in ids
        for r in block.rounds
        for a in r.assessors
    ]
    files = [csv_file("evaluation_scores", scores)]
    if block.anonymous_survey:
        answers = [{"satisfaction": 3 + random.Random(f"{seed}:{p}:rating").randrange(3)} for p in ids]
        files.append(csv_file("satisfaction", answers))
    return files


def _follow_up(template: ProgrammeTemplate, block: BlockBase, people: list[ParticipantFacts], seed: int) -> list[File]:
    assert isinstance(block, FollowUp)
    rows = [
        {"participant_id": p.participant_id, "survey": s.code, "satisfaction": 4}
        for p in people
        if not _short(seed, p.participant_id, block)
        for s in block.surveys
    ]
    return [csv_file("follow_up", rows)] if rows else []


_FILES: dict[str, Callable[[ProgrammeTemplate, BlockBase, list[ParticipantFacts], int], list[File]]] = {
    "online_study": _online,
    "residential_study": _residential,
    "placement": _placement,
    "return_to_post": _return,
    "evaluation": _evaluation,
    "follow_up": _follow_up,
}
"""Enrolment's file is :func:`nominees`; selection and completion decide from what the others recorded."""
