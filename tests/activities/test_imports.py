"""The import activity on real files and a real store: every kind, XLSX, partial imports, retries."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from pathlib import Path

import openpyxl
from temporalio.testing import ActivityEnvironment

from cohortflow.activities import Activities
from cohortflow.activities.field_study import AssignPlacements
from cohortflow.activities.imports import ImportRecords, rejects_path
from cohortflow.activities.selection import SelectParticipants
from cohortflow.domain.events import ImportKind
from cohortflow.sample import nominees, sample_programme
from cohortflow.store.eventstore import EventStore
from tests.activities.test_idempotency_and_refusals import REF, started
from tests.workflows.helpers import event_types

PROGRAMME = sample_programme(300, 40)
NOMINEE_COLUMNS = ["participant_id", "name", "national_id", "gender", "prefecture_code", "school", "role"]


def upload(uploads: Path, rows: Sequence[Sequence[object]], *, xlsx: bool = False) -> str:
    """Leave a file in ``uploads`` under its digest, as the API does."""
    uploads.mkdir(exist_ok=True)
    tmp = uploads / "incoming"
    if xlsx:
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        for row in rows:
            sheet.append(list(row))
        book.save(tmp)
    else:
        with tmp.open("w", encoding="gb18030", newline="") as out:
            csv.writer(out).writerows(rows)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    tmp.rename(uploads / digest)
    return digest


def request(kind: ImportKind, digest: str, **kw: object) -> ImportRecords:
    return ImportRecords(ref=REF, kind=kind, digest=digest, filename=f"{kind}.csv", **kw)


async def test_every_kind_is_applied_from_csv_or_xlsx(store: EventStore, tmp_path: Path) -> None:
    acts, env = Activities(store, tmp_path), ActivityEnvironment()
    await env.run(acts.record_cohort_started, started())
    people = nominees(PROGRAMME, seed=3)
    sheet = [["姓名", "学员编号", "身份证号", "性别", "市州代码", "学校", "职务"]] + [
        [
            p.name,
            p.participant_id,
            p.national_id,
            "男" if p.gender == "M" else "女",
            p.prefecture_code,
            p.school,
            p.role,
        ]
        for p in people
    ]
    applied = await env.run(acts.import_records, request("nominees", upload(tmp_path, sheet, xlsx=True)))
    assert (applied.status, applied.applied) == ("applied", len(people))

    hours = [["participant_id", "hours"]] + [[p.participant_id, 150 + i % 40] for i, p in enumerate(people)]
    assert (await env.run(acts.import_records, request("study_records", upload(tmp_path, hours)))).applied == 300
    work = [["participant_id", "deliverable"]] + [
        [p.participant_id, code] for p in people for code in ("improvement_plan", "reflection")
    ]
    assert (await env.run(acts.import_records, request("deliverables", upload(tmp_path, work)))).applied == 600

    await env.run(acts.select_participants, SelectParticipants(ref=REF))
    await env.run(acts.assign_field_placements, AssignPlacements(ref=REF))
    facts = await acts.facts(REF)
    chosen = list(facts.selected)
    assert len(chosen) == 40
    days = [["participant_id", "days_present"]] + [[pid, 12] for pid in chosen]
    assert (await env.run(acts.import_records, request("attendance", upload(tmp_path, days)))).applied == 40
    answers = [["participant_id", "survey", "satisfaction"]] + [[pid, "m1", 5] for pid in chosen]
    assert (await env.run(acts.import_records, request("follow_up", upload(tmp_path, answers)))).applied == 40

    counts = await event_types(store, REF.cohort_id)
    assert counts["StudyHoursRecorded"] == 300 and counts["DeliverableSubmitted"] == 600
    assert counts["FieldAttendanceRecorded"] == 40 and counts["SurveyResponded"] == 40
    assert counts["ImportApplied"] == 5
    after = await acts.facts(REF)
    assert all(after.participants[pid].days_present == 12 for pid in chosen)


async def test_a_partial_import_keeps_the_rejects_and_a_retry_changes_nothing(
    store: EventStore, tmp_path: Path
) -> None:
    acts, env = Activities(store, tmp_path), ActivityEnvironment()
    await env.run(acts.record_cohort_started, started())
    people = nominees(PROGRAMME, seed=4)[:10]
    rows = [NOMINEE_COLUMNS] + [[getattr(p, c) for c in NOMINEE_COLUMNS] for p in people]
    rows[4][4] = "999999"  # row 5 of the file: not a prefecture of the programme
    rows.insert(6, [""] * 7)  # a blank line: skipped, but it still counts in the row numbers
    digest = upload(tmp_path, rows)

    refused = await env.run(acts.import_records, request("nominees", digest))
    assert refused.status == "refused" and refused.problems == [
        "row 5, prefecture_code: '999999' is not a prefecture of this programme"
    ]
    assert not rejects_path(tmp_path, digest).exists()
    assert (await event_types(store, REF.cohort_id))["CandidateNominated"] == 0

    partial = await env.run(acts.import_records, request("nominees", digest, accept_partial=True))
    assert (partial.status, partial.applied, partial.rejected, partial.rejects_file) == ("applied", 9, 1, True)
    with rejects_path(tmp_path, digest).open(encoding="utf-8-sig") as kept:
        rejected = list(csv.reader(kept))
    assert rejected[0] == ["row", "problems", *NOMINEE_COLUMNS]
    assert rejected[1][:2] == ["5", "row 5, prefecture_code: '999999' is not a prefecture of this programme"]
    before = (await store.head()).position
    retry = await env.run(acts.import_records, request("nominees", digest, accept_partial=True))
    assert (retry.status, retry.applied) == ("duplicate", 9)
    assert (await store.head()).position == before


async def test_unreadable_missing_and_empty_files_are_refused(store: EventStore, tmp_path: Path) -> None:
    acts, env = Activities(store, tmp_path), ActivityEnvironment()
    await env.run(acts.record_cohort_started, started())
    missing = await env.run(acts.import_records, request("nominees", "0" * 64))
    assert missing.problems == [f"no uploaded file has digest {'0' * 64}"]
    empty = await env.run(acts.import_records, request("nominees", upload(tmp_path, [NOMINEE_COLUMNS])))
    assert empty.problems == ["the file has no data rows"]
    wrong = await env.run(acts.import_records, request("study_records", upload(tmp_path, [NOMINEE_COLUMNS, ["x"] * 7])))
    assert wrong.status == "refused" and "name" in wrong.problems[0]
    assert (await event_types(store, REF.cohort_id))["ImportApplied"] == 0
