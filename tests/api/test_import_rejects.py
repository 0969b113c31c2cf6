"""A partial import's rejected rows: kept for its importer only, masked, formula-safe, private and short-lived."""

from __future__ import annotations

import csv
import io
import json
import stat
import time

from temporalio.testing import WorkflowEnvironment

from cohortflow.access.tokens import issue_token
from cohortflow.activities import rejects
from cohortflow.demo.sample import nominees
from cohortflow.domain import national_id
from cohortflow.domain.nomination import NomineeRow
from cohortflow.store.eventstore import EventStore
from tests.api.conftest import COORDINATED, PROGRAMME, Api
from tests.api.test_admin_api import nominee_csv, upload
from tests.workflows.helpers import event_types, wait_for_status

OTHER = next(p.code for p in PROGRAMME.prefectures if p.code != COORDINATED)
FORMULAS = {"name": '=HYPERLINK("http://x","y")', "school": "+1+1", "role": "@SUM(A1)"}


async def start(api: Api, env: WorkflowEnvironment, cohort: str) -> None:
    submitted = await api.http.post(
        "/api/v1/programmes", json=PROGRAMME.model_dump(mode="json"), headers=api.as_("admin")
    )
    assert submitted.status_code == 201, submitted.text
    started = await api.http.post(
        "/api/v1/cohorts",
        json={"cohort_id": cohort, "programme_id": PROGRAMME.id, "version": 1},
        headers=api.as_("admin"),
    )
    assert started.status_code == 201, started.text
    await wait_for_status(env.client, f"cohort-{cohort}", lambda s: s.phase == "nomination")


async def coordinator_of(api: Api, store: EventStore, prefecture: str) -> dict[str, str]:
    issued = await issue_token(
        store.pool, name=f"c-{prefecture}", role="coordinator", prefecture=prefecture, issued_by="t"
    )
    return {"Authorization": f"Bearer {issued.secret}"}


def two_prefectures() -> tuple[list[NomineeRow], NomineeRow]:
    """Three people of the coordinator's prefecture, three of another, and one of the coordinator's whose
    gender is unreadable (a rejected row) and whose other cells are spreadsheet formulas."""
    people = nominees(PROGRAMME, seed=11)
    mine = [p for p in people if p.prefecture_code == COORDINATED][:4]
    other = [p for p in people if p.prefecture_code == OTHER][:3]
    bad = NomineeRow(**{**vars(mine[3]), **FORMULAS, "gender": "=1+1"})
    return [*mine[:3], *other, bad], bad


def table(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


async def test_rejected_rows_are_their_importers_masked_escaped_private_and_expire(
    api: Api, store: EventStore, time_skipping: WorkflowEnvironment
) -> None:
    await start(api, time_skipping, "rejects-1")
    rows, bad = two_prefectures()
    content = nominee_csv(rows)
    partial = await upload(api, "rejects-1", "nominees", content, role="coordinator", accept_partial="true")
    assert (partial["status"], partial["applied"], partial["rejected"]) == ("applied", 3, 4), partial
    assert partial["rejects_file"] and partial["rejects_id"]
    where = f"/api/v1/imports/{partial['digest']}/rejects"

    # the coordinator's own prefecture: their rows, ID numbers masked, formulas as text
    own = await api.http.get(where, headers=api.as_("coordinator"))
    assert own.status_code == 200, own.text
    kept = table(own.text)
    header, *lines = kept
    assert header[:2] == ["row", "problems"] and len(lines) == 4
    bad_line = dict(zip(header, next(line for line in lines if line[0] == "8"), strict=False))
    assert bad_line["national_id"] == national_id.mask(bad.national_id) != bad.national_id
    assert bad.national_id not in own.text
    assert {k: bad_line[k] for k in FORMULAS} == {k: "'" + v for k, v in FORMULAS.items()}
    assert bad_line["gender"] == "'=1+1"
    assert not any(cell.startswith(("=", "+", "-", "@")) for line in lines for cell in line)

    # an administrator may read ID numbers: the whole row, to fix it
    full = await api.http.get(where, headers=api.as_("admin"))
    assert full.status_code == 200 and bad.national_id in full.text

    # another prefecture's coordinator is told there is nothing, as for any other prefecture's read
    other = await coordinator_of(api, store, OTHER)
    refused = await api.http.get(where, headers=other)
    assert refused.status_code == 404, refused.text
    assert (await api.http.get(where, headers=other, params={"import_id": partial["rejects_id"]})).status_code == 404
    assert (await api.http.get(where, headers=api.as_("auditor"))).status_code == 403

    # on disk: readable by the service's user only
    folder = api.settings.uploads / "rejects" / partial["digest"]
    files = sorted(folder.iterdir())
    assert [f.suffix for f in files] == [".csv", ".json"]
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700

    # expiry: past COHORTFLOW_REJECTS_KEEP_DAYS the download says so, and the next import deletes the rows
    note = folder / f"{partial['rejects_id']}.json"
    owner = json.loads(note.read_text())
    owner["created"] = time.time() - (api.settings.rejects_keep_days + 1) * 86_400
    note.write_text(json.dumps(owner))
    gone = await api.http.get(where, headers=api.as_("coordinator"))
    assert gone.status_code == 410 and "expired" in gone.json()["detail"], gone.text
    assert (await api.http.get(where, headers=other)).status_code == 404  # still nothing to say to others
    await upload(api, "rejects-1", "nominees", b"participant_id,colour\nP1,red\n")
    assert not (folder / f"{partial['rejects_id']}.csv").exists()
    assert (await api.http.get(where, headers=api.as_("admin"))).status_code == 410
    assert (await event_types(store, "rejects-1"))["CandidateNominated"] == 3


async def test_an_admin_uploading_a_coordinators_file_applies_only_the_other_prefectures_rows(
    api: Api, store: EventStore, time_skipping: WorkflowEnvironment
) -> None:
    await start(api, time_skipping, "rejects-2")
    rows, _ = two_prefectures()
    content = nominee_csv(rows)
    partial = await upload(api, "rejects-2", "nominees", content, role="coordinator", accept_partial="true")
    assert (partial["applied"], partial["rejected"], partial["already_applied"]) == (3, 4, 0), partial

    rest = await upload(api, "rejects-2", "nominees", content, accept_partial="true")
    assert (rest["status"], rest["rows"], rest["applied"], rest["already_applied"], rest["rejected"]) == (
        "applied",
        7,
        3,
        3,
        1,
    ), rest
    counts = await event_types(store, "rejects-2")
    assert (counts["CandidateNominated"], counts["ImportApplied"]) == (6, 2)  # nobody twice
    status = await api.http.get("/api/v1/cohorts/rejects-2/status", headers=api.as_("admin"))
    assert status.json()["counters"]["candidates"] == 6

    again = await upload(api, "rejects-2", "nominees", content, accept_partial="true")
    assert (again["status"], again["applied"], again["already_applied"], again["rejected"]) == ("duplicate", 0, 6, 1)
    assert (await event_types(store, "rejects-2"))["CandidateNominated"] == 6

    # each import kept its own rejected rows: the admin's did not overwrite the coordinator's
    where = f"/api/v1/imports/{partial['digest']}/rejects"
    own = await api.http.get(where, headers=api.as_("coordinator"))
    assert len(table(own.text)) == 1 + 4
    admins = await api.http.get(where, headers=api.as_("admin"), params={"import_id": rest["rejects_id"]})
    assert [line[0] for line in table(admins.text)[1:]] == ["8"]
    by_id = await api.http.get(where, headers=api.as_("coordinator"), params={"import_id": rest["rejects_id"]})
    assert by_id.status_code == 404  # the admin's rows span every prefecture: not the coordinator's to read


def test_cells_a_spreadsheet_would_run_are_escaped() -> None:
    assert [rejects.escape_cell(v) for v in ["=1", "+1", "-1", "@A", "\tx", "\rx", "a=1", "", "李"]] == [
        "'=1",
        "'+1",
        "'-1",
        "'@A",
        "'\tx",
        "'\rx",
        "a=1",
        "",
        "李",
    ]
