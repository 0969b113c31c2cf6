"""The import activity on real files and a real store: every kind, XLSX, partial imports, retries."""

from __future__ import annotations

import csv
import hashlib
import random
from collections.abc import Sequence
from pathlib import Path

import openpyxl
import pytest
from temporalio.testing import ActivityEnvironment

from cohortflow.activities import Activities, imports
from cohortflow.activities.field_study import AssignPlacements
from cohortflow.activities.imports import ImportOutcome, ImportRecords
from cohortflow.activities.rejects import rows_path
from cohortflow.activities.selection import SelectParticipants
from cohortflow.demo import sample
from cohortflow.demo.sample import nominees, sample_programme
from cohortflow.domain import national_id
from cohortflow.domain.events import CandidateNominated, ImportKind
from cohortflow.domain.nomination import NominationCheck, NomineeRow
from cohortflow.domain.records import RecordCheck
from cohortflow.imports.reading import open_table
from cohortflow.imports.typed import typed_row
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
    assert refused.rejects_id is None and not (tmp_path / "rejects").exists()
    assert (await event_types(store, REF.cohort_id))["CandidateNominated"] == 0

    partial = await env.run(acts.import_records, request("nominees", digest, accept_partial=True))
    assert (partial.status, partial.applied, partial.rejected, partial.rejects_file) == ("applied", 9, 1, True)
    with kept_path(tmp_path, partial).open(encoding="utf-8-sig") as kept:
        rejected = list(csv.reader(kept))
    assert rejected[0] == [
        "row",
        "problems",
        *NOMINEE_COLUMNS,
        "email",
        "phone",
        "locale",
        "track",
        "school_level",
    ]  # every column of the kind
    assert rejected[1][:2] == ["5", "row 5, prefecture_code: '999999' is not a prefecture of this programme"]
    before = (await store.head()).position
    retry = await env.run(acts.import_records, request("nominees", digest, accept_partial=True))
    assert (retry.status, retry.applied, retry.already_applied) == ("duplicate", 0, 9)
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


# --- repeats within a file, found in the import's key tables --------------------------------------


def reference(kind: ImportKind, path: Path, check: NominationCheck | RecordCheck) -> list[tuple[int, list[str]]]:
    """Each rejected row and its problems as the domain's own check, keeping every key in memory, finds them."""
    found = []
    with open_table(path, kind) as table:
        for source in table.rows():
            typed, problems = typed_row(kind, source)
            if typed is not None and not problems:
                outcome = check.check(typed)  # type: ignore[arg-type]
                problems = outcome if isinstance(outcome, list) else []
            if problems:
                found.append((source.row, problems))
    return found


def kept_path(uploads: Path, outcome: ImportOutcome) -> Path:
    assert outcome.rejects_file and outcome.rejects_id is not None
    return rows_path(uploads, outcome.digest, outcome.rejects_id)


def kept_rejects(uploads: Path, outcome: ImportOutcome) -> list[tuple[int, list[str]]]:
    with kept_path(uploads, outcome).open(encoding="utf-8-sig") as kept:
        return [(int(row[0]), row[1].split("; ")) for row in list(csv.reader(kept))[1:]]


def cells(r: NomineeRow) -> list[object]:
    return [getattr(r, c) for c in NOMINEE_COLUMNS]


def other_check_digit(nid: str) -> str:
    return nid[:17] + ("1" if nid[17] == "0" else "0")


def sheet(rows: Sequence[NomineeRow]) -> list[list[object]]:
    return [list(NOMINEE_COLUMNS), *map(cells, rows)]


def tricky_nominees(seed: int, known: list[NomineeRow], rest: list[NomineeRow]) -> tuple[list[list[object]], str]:
    """A second nominee sheet with every kind of repeat, in an order of its own for each seed, and the id of
    someone it first puts in a full prefecture, then in their own, which has room, then again."""
    rng = random.Random(seed)
    moved = rest[0]
    # Room in the moved person's prefecture and a few others; no other row of the sheet may take the first.
    dropped = [r for r in rest if r.prefecture_code == moved.prefecture_code][:2]
    dropped += rng.sample([r for r in rest if r.prefecture_code != moved.prefecture_code], 4)
    kept = [r for r in rest if r not in dropped]
    elsewhere = [r for r in kept if r.prefecture_code != moved.prefecture_code]
    prefectures = [p for p in PROGRAMME.prefectures if p.code != moved.prefecture_code]
    rows = [cells(r) for r in kept]

    def anywhere(row: list[object]) -> None:
        rows.insert(rng.randrange(len(rows) + 1), row)

    for i in range(4):
        twin = rng.choice(elsewhere)  # the same person twice, under a second id, before or after the first
        anywhere([f"D{i}", *cells(twin)[1:]])
        same_id = sample.nominee(2000 + i, twin.prefecture_code, "", seed)  # someone else under the same id
        anywhere([twin.participant_id, *cells(same_id)[1:]])
        old = rng.choice(known)  # already in the cohort: under a new id, and their id for someone new
        anywhere([f"K{i}", *cells(old)[1:]])
        newcomer = sample.nominee(3000 + i, old.prefecture_code, "", seed)
        anywhere([old.participant_id, *cells(newcomer)[1:]])
        pref = rng.choice(prefectures)  # over a quota, wherever it falls
        anywhere(cells(sample.nominee(4000 + i, pref.code, pref.name, seed)))
        fixed = rng.choice(elsewhere)  # refused for a bad ID number or gender first: not nominated by it
        anywhere([f"B{i}", fixed.name, other_check_digit(fixed.national_id), *cells(fixed)[3:]])
        anywhere([f"G{i}", fixed.name, fixed.national_id, "?", *cells(fixed)[4:]])
    rows.insert(rng.randrange(len(rows)), [""] * len(NOMINEE_COLUMNS))  # a blank line still counts as a row
    full = next(p for p in prefectures if p.code not in {d.prefecture_code for d in dropped})
    rows.append([f"Q{seed}", *cells(moved)[1:4], full.code, *cells(moved)[5:]])
    rows.append(cells(moved))
    rows.append([f"R{seed}", *cells(moved)[1:]])
    return [list(NOMINEE_COLUMNS), *rows], moved.participant_id


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_repeats_in_a_nominee_file_are_reported_row_by_row_as_the_domain_check_finds_them(
    store: EventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    # Small chunks and spill blocks, so repeats fall in other chunks and rejected rows go to the spill file.
    monkeypatch.setattr(imports, "CHUNK_ROWS", 7)
    monkeypatch.setattr(imports._RowNumbers, "BLOCK", 5)
    acts, env = Activities(store, tmp_path), ActivityEnvironment()
    await env.run(acts.record_cohort_started, started())
    people = nominees(PROGRAMME, seed=seed)
    known, rest = people[:150], people[150:]
    first = await env.run(acts.import_records, request("nominees", upload(tmp_path, sheet(known))))
    assert first.status == "applied"
    facts = await acts.facts(REF)
    tricky, moved = tricky_nominees(seed, known, rest)
    digest = upload(tmp_path, tricky)
    keys = await store.person_keys()
    assert not keys.legacy  # a new store keys people with a secret of its own

    def in_memory() -> NominationCheck:
        return NominationCheck(
            PROGRAMME,
            already=facts.nominations_by_prefecture(),
            known_people={p.person_key for p in facts.participants.values()},
            known_ids=set(facts.participants),
            keys=keys,
        )

    expected = reference("nominees", tmp_path / digest, in_memory())
    reasons = {
        kind
        for _, problems in expected
        for p in problems
        for kind in ("appears twice", "already nominated", "the same person", "over its quota", "check digit", "gender")
        if kind in p
    }
    assert len(reasons) == 6  # every kind of refusal is in the sheet
    before = (await store.head()).position

    refused = await env.run(acts.import_records, request("nominees", digest))
    assert refused.status == "refused" and (await store.head()).position == before
    assert refused.problems == [p for _, problems in expected for p in problems]
    assert refused.rejected == len(expected)

    partial = await env.run(acts.import_records, request("nominees", digest, accept_partial=True))
    assert kept_rejects(tmp_path, partial) == expected
    after = await acts.facts(REF)
    added = [p for pid, p in after.participants.items() if pid not in facts.participants]
    assert partial.applied == len(added) == partial.rows - len(expected)
    check = in_memory()
    wanted = []
    with open_table(tmp_path / digest, "nominees") as table:
        for source in table.rows():
            typed, problems = typed_row("nominees", source)
            if isinstance(typed, NomineeRow) and not problems:
                outcome = check.check(typed)
                if isinstance(outcome, CandidateNominated):
                    wanted.append((outcome.participant_id, outcome.person_key, outcome.prefecture_code))
    assert [(p.participant_id, p.person_key, p.prefecture_code) for p in added] == wanted
    # The last three rows: refused over a full quota, nominated where there is room, refused as a repeat.
    last = len(tricky)
    full = PROGRAMME.prefecture(str(tricky[-3][4]))
    assert full is not None
    masked = national_id.mask(str(tricky[-1][2]))
    assert expected[-2:] == [
        (last - 2, [f"row {last - 2}, prefecture_code: {full.code} ({full.name}) is over its quota {full.quota}"]),
        (last, [f"row {last}, national_id: the same person ({masked}) is nominated twice"]),
    ]
    assert moved in after.participants


@pytest.mark.parametrize("kind", ["study_records", "deliverables"])
async def test_repeats_in_a_records_file_are_reported_row_by_row_as_the_domain_check_finds_them(
    store: EventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: ImportKind
) -> None:
    monkeypatch.setattr(imports, "CHUNK_ROWS", 5)
    acts, env = Activities(store, tmp_path), ActivityEnvironment()
    await env.run(acts.record_cohort_started, started())
    people = nominees(PROGRAMME, seed=6)[:40]
    assert (
        await env.run(acts.import_records, request("nominees", upload(tmp_path, sheet(people))))
    ).status == "applied"
    rng = random.Random(kind)
    if kind == "study_records":
        rows: list[list[object]] = [[p.participant_id, rng.choice([120, 150.5, -1, 99999])] for p in people]
        header = ["participant_id", "hours"]
    else:
        codes = ["improvement_plan", "reflection", "nothing"]
        rows = [[p.participant_id, code] for p in people for code in rng.sample(codes, 2)]
        header = ["participant_id", "deliverable"]
    for _ in range(12):
        rows.insert(rng.randrange(len(rows) + 1), list(rng.choice(rows)))  # a repeat, maybe of a refused row
    rows.insert(rng.randrange(len(rows)), ["P999999", rows[0][1]])  # not in the cohort: not a repeat either
    rows.append(["P999999", rows[0][1]])
    digest = upload(tmp_path, [header, *rows])
    facts = await acts.facts(REF)
    expected = reference(kind, tmp_path / digest, RecordCheck(PROGRAMME, facts))
    assert any("appears twice in this file" in p for _, problems in expected for p in problems)

    partial = await env.run(acts.import_records, request(kind, digest, accept_partial=True))
    assert kept_rejects(tmp_path, partial) == expected
    assert partial.applied == partial.rows - len(expected) == len(rows) - len(expected)


async def test_the_key_tables_go_with_the_check(store: EventStore, tmp_path: Path) -> None:
    acts, env = Activities(store, tmp_path), ActivityEnvironment()
    await env.run(acts.record_cohort_started, started())
    people = nominees(PROGRAMME, seed=7)[:20]
    repeated = [*sheet(people), cells(people[0])]
    assert (await env.run(acts.import_records, request("nominees", upload(tmp_path, repeated)))).problems == [
        f"row 22, participant_id: {people[0].participant_id} appears twice",
        f"row 22, national_id: the same person ({national_id.mask(people[0].national_id)}) is nominated twice",
    ]
    assert (await env.run(acts.import_records, request("nominees", upload(tmp_path, repeated[:-1])))).applied == 20
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM pg_class WHERE relpersistence = 't'")
        assert await cur.fetchone() == (0,)


# --- de-duplication by row ---------------------------------------------------------------------------


def two_prefecture_sheet(seed: int) -> tuple[list[list[object]], str, str]:
    """Nominees of two prefectures (three each), and the two prefecture codes: the first's coordinator imports."""
    people = nominees(PROGRAMME, seed=seed)
    first = people[0].prefecture_code
    second = next(p.prefecture_code for p in people if p.prefecture_code != first)
    chosen = [p for p in people if p.prefecture_code == first][:3] + [p for p in people if p.prefecture_code == second][
        :3
    ]
    return [list(NOMINEE_COLUMNS), *[cells(p) for p in chosen]], first, second


async def test_a_file_uploaded_again_applies_only_the_rows_not_yet_applied(store: EventStore, tmp_path: Path) -> None:
    acts, env = Activities(store, tmp_path), ActivityEnvironment()
    await env.run(acts.record_cohort_started, started())
    sheet, mine, _ = two_prefecture_sheet(21)
    digest = upload(tmp_path, sheet)

    coordinator = request("nominees", digest, accept_partial=True, prefecture=mine, request_id="u-1")
    partial = await env.run(acts.import_records, coordinator)
    assert (partial.status, partial.applied, partial.rejected, partial.already_applied) == ("applied", 3, 3, 0)

    admin = request("nominees", digest, request_id="u-2")
    rest = await env.run(acts.import_records, admin)
    assert (rest.status, rest.rows, rest.applied, rest.rejected, rest.already_applied) == ("applied", 6, 3, 0, 3)
    counts = await event_types(store, REF.cohort_id)
    assert (counts["CandidateNominated"], counts["ImportApplied"]) == (6, 2)
    assert len((await acts.facts(REF)).participants) == 6  # nobody twice

    head = (await store.head()).position
    assert await env.run(acts.import_records, admin) == rest  # the same request, retried: the same answer
    assert await env.run(acts.import_records, coordinator) == partial  # problems and all
    again = await env.run(acts.import_records, request("nominees", digest, request_id="u-3"))
    assert (again.status, again.rows, again.applied, again.already_applied) == ("duplicate", 6, 0, 6)
    by_coordinator = await env.run(
        acts.import_records, request("nominees", digest, accept_partial=True, prefecture=mine, request_id="u-4")
    )
    assert (by_coordinator.status, by_coordinator.already_applied, by_coordinator.rejected) == ("duplicate", 3, 3)
    assert by_coordinator.rejects_id not in (None, partial.rejects_id)  # its own rejects, not the first one's
    assert len(kept_rejects(tmp_path, partial)) == len(kept_rejects(tmp_path, by_coordinator)) == 3
    assert (await store.head()).position == head


async def test_a_row_that_says_something_else_about_its_subject_is_what_it_was(
    store: EventStore, tmp_path: Path
) -> None:
    acts, env = Activities(store, tmp_path), ActivityEnvironment()
    await env.run(acts.record_cohort_started, started())
    people = nominees(PROGRAMME, seed=22)[:4]
    sheet: list[list[object]] = [list(NOMINEE_COLUMNS), *[cells(p) for p in people]]
    assert (await env.run(acts.import_records, request("nominees", upload(tmp_path, sheet)))).applied == 4
    renamed: list[list[object]] = [
        list(NOMINEE_COLUMNS),
        *[cells(p) for p in people[:3]],
        [*cells(people[3])[:1], "改名", *cells(people[3])[2:]],
    ]
    conflict = await env.run(acts.import_records, request("nominees", upload(tmp_path, renamed), request_id="n-2"))
    assert (conflict.status, conflict.already_applied) == ("refused", 3)
    assert (
        conflict.problems[0] == f"row 5, participant_id: {people[3].participant_id} is already nominated in this cohort"
    )
    assert "the same person" in conflict.problems[1] and len(conflict.problems) == 2

    hours: list[list[object]] = [["participant_id", "hours"], *[[p.participant_id, 100] for p in people]]
    assert (await env.run(acts.import_records, request("study_records", upload(tmp_path, hours)))).applied == 4
    hours[2][1] = 120  # a new value for one participant: applied, the latest record stands
    hours.append([people[0].participant_id, 100])  # the same participant twice in one file: still a problem
    changed = await env.run(
        acts.import_records, request("study_records", upload(tmp_path, hours), accept_partial=True, request_id="h-2")
    )
    assert (changed.applied, changed.already_applied, changed.rejected) == (1, 3, 1)
    assert changed.problems == [f"row 6, participant_id: {people[0].participant_id} appears twice in this file"]
    assert (await acts.facts(REF)).participants[people[1].participant_id].hours == 120
    assert (await event_types(store, REF.cohort_id))["StudyHoursRecorded"] == 5


async def test_an_import_recorded_under_the_old_step_is_found_for_its_retry(
    store: EventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acts, env = Activities(store, tmp_path), ActivityEnvironment()
    await env.run(acts.record_cohort_started, started())
    people = nominees(PROGRAMME, seed=23)[:5]
    digest = upload(tmp_path, [NOMINEE_COLUMNS, *(cells(p) for p in people)])
    with monkeypatch.context() as old:
        old.setattr(imports, "_step", lambda req: f"import/{req.kind}/{req.digest}")
        first = await env.run(acts.import_records, request("nominees", digest, request_id="old-1"))
    assert (first.status, first.applied) == ("applied", 5)
    head = (await store.head()).position

    retried = await env.run(acts.import_records, request("nominees", digest, request_id="old-1"))
    assert (retried.status, retried.rows, retried.applied, retried.already_applied) == ("applied", 5, 5, 0)
    other = await env.run(acts.import_records, request("nominees", digest, request_id="new-1"))
    assert (other.status, other.applied, other.already_applied) == ("duplicate", 0, 5)
    assert (await store.head()).position == head
