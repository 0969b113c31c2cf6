"""An administrator's whole job over HTTP: programmes, a cohort, imports, steering, refusals."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import yaml
from temporalio.testing import WorkflowEnvironment

from cohortflow.demo.sample import nominees
from cohortflow.domain.nomination import NomineeRow
from cohortflow.store.eventstore import EventStore
from tests.api.conftest import COORDINATED, PROGRAMME, Api
from tests.workflows.helpers import event_types, wait_for_status

NOMINEE_COLUMNS = ["participant_id", "name", "national_id", "gender", "prefecture_code", "school", "role"]


def nominee_csv(rows: list[NomineeRow], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(NOMINEE_COLUMNS)
    for r in rows:
        writer.writerow([getattr(r, c) for c in NOMINEE_COLUMNS])
    return out.getvalue().encode(encoding)


def template(version: int = 1, **changes: object) -> dict[str, object]:
    return {**PROGRAMME.model_dump(mode="json"), "version": version, **changes}


async def submit(api: Api, body: dict[str, object]) -> None:
    response = await api.http.post("/api/v1/programmes", json=body, headers=api.as_("admin"))
    assert response.status_code == 201, response.text


async def upload(api: Api, cohort: str, kind: str, content: bytes, role: str = "admin", **params: str) -> dict:  # type: ignore[type-arg]
    response = await api.http.post(
        f"/api/v1/cohorts/{cohort}/imports/{kind}",
        params=params,
        files={"file": (f"{kind}.csv", content, "text/csv")},
        headers=api.as_(role),
    )
    body: dict = response.json()  # type: ignore[type-arg]
    body["http_status"] = response.status_code
    return body


async def test_programme_versions_are_submitted_listed_and_compared(api: Api) -> None:
    await submit(api, template())
    again = await api.http.post("/api/v1/programmes", json=template(), headers=api.as_("admin"))
    assert again.status_code == 201 and again.json()["duplicate"] is True
    skipped = await api.http.post("/api/v1/programmes", json=template(3), headers=api.as_("admin"))
    assert skipped.status_code == 422 and "the next version of guopei-party-secretary is 2, not 3" in skipped.text
    changed = await api.http.post("/api/v1/programmes", json=template(1, name="改名"), headers=api.as_("admin"))
    assert changed.status_code == 422 and "already exists with other content" in changed.text

    as_yaml = yaml.safe_dump(template(2, name="第二版"), allow_unicode=True).encode()
    response = await api.http.post(
        "/api/v1/programmes", content=as_yaml, headers={**api.as_("admin"), "content-type": "application/yaml"}
    )
    assert response.status_code == 201, response.text

    versions = (
        await api.http.get("/api/v1/programmes/guopei-party-secretary/versions", headers=api.as_("coordinator"))
    ).json()
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["submitted_by"] == "admin:admin-1"
    diff = (
        await api.http.get(
            "/api/v1/programmes/guopei-party-secretary/diff", params={"old": 1, "new": 2}, headers=api.as_("auditor")
        )
    ).json()
    assert {"op": "replace", "path": "/name", "value": "第二版"} in diff
    assert {"op": "replace", "path": "/version", "value": 2} in diff


async def test_bad_templates_are_refused_with_every_problem(api: Api) -> None:
    broken = template(candidates=7, selection={**PROGRAMME.selection.model_dump(), "target": 0})
    response = await api.http.post("/api/v1/programmes/validate", json=broken, headers=api.as_("admin"))
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert any("candidates is 7" in p for p in problems)
    assert any("selection target must be positive" in p for p in problems)

    malformed = await api.http.post(
        "/api/v1/programmes", content=b'{"id": ', headers={**api.as_("admin"), "content-type": "application/json"}
    )
    assert malformed.status_code == 422 and "malformed JSON at line 1" in malformed.json()["detail"]
    bad_yaml = await api.http.post(
        "/api/v1/programmes", content=b"id: [", headers={**api.as_("admin"), "content-type": "application/yaml"}
    )
    assert bad_yaml.status_code == 422 and "malformed YAML" in bad_yaml.json()["detail"]
    wrong_type = await api.http.post(
        "/api/v1/programmes", content=b"id=1", headers={**api.as_("admin"), "content-type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    too_big = await api.http.post(
        "/api/v1/programmes",
        content=b" " * 2_000_001,
        headers={**api.as_("admin"), "content-type": "application/json"},
    )
    assert too_big.status_code == 413
    listed = (await api.http.get("/api/v1/programmes", headers=api.as_("admin"))).json()
    assert listed == []  # nothing refused was recorded


async def test_block_templates_are_validated_and_described_by_their_schema(api: Api) -> None:
    examples = Path(__file__).parents[2] / "examples" / "programmes"
    placement = (examples / "placement.yaml").read_bytes()
    as_yaml = {"content-type": "application/yaml"}
    valid = await api.http.post(
        "/api/v1/programmes/validate", content=placement, headers={**api.as_("admin"), **as_yaml}
    )
    assert valid.status_code == 200, valid.text
    assert valid.json()["programme_id"] == "district-principal-placement"

    broken = yaml.safe_load(placement)
    broken["stages"][1]["hosts"][0]["capacity"] = 1
    refused = await api.http.post(
        "/api/v1/programmes/validate",
        content=yaml.safe_dump(broken, allow_unicode=True).encode(),
        headers={**api.as_("coordinator"), **as_yaml},
    )
    assert refused.status_code == 422
    assert refused.json()["problems"] == [
        "block placement (placement): host schools hold 16 people, fewer than the 20 to be placed"
    ]

    submitted = await api.http.post("/api/v1/programmes", content=placement, headers={**api.as_("admin"), **as_yaml})
    assert submitted.status_code == 201, submitted.text
    shown = await api.http.get(
        "/api/v1/programmes/district-principal-placement/versions/1", headers=api.as_("coordinator")
    )
    assert shown.json()["stages"][1]["hosts"][0]["code"] == "SH-PS1"
    second = {**yaml.safe_load(placement), "version": 2, "name": "跟岗研修（第二版）"}
    revised = await api.http.post(
        "/api/v1/programmes",
        content=yaml.safe_dump(second, allow_unicode=True).encode(),
        headers={**api.as_("admin"), **as_yaml},
    )
    assert revised.status_code == 201, revised.text
    changes = await api.http.get(
        "/api/v1/programmes/district-principal-placement/diff",
        params={"old": 1, "new": 2},
        headers=api.as_("admin"),
    )
    assert {"op": "replace", "path": "/name", "value": "跟岗研修（第二版）"} in changes.json()
    cohort = {"cohort_id": "blocks", "programme_id": "district-principal-placement", "version": 1}
    started = await api.http.post("/api/v1/cohorts", json=cohort, headers=api.as_("admin"))
    assert started.status_code == 201, started.text
    for _ in range(200):  # running: its start recorded, so the test's end finds and ends it
        status = await api.http.get("/api/v1/cohorts/blocks/status", headers=api.as_("admin"))
        if status.status_code == 200 and status.json()["open_blocks"]:
            break
        await asyncio.sleep(0.05)
    assert [b["code"] for b in status.json()["open_blocks"]] == ["enrolment"]
    preview = await api.http.post(
        "/api/v1/programmes/district-principal-placement/versions/1/reminders/summary/preview",
        json={"values": {"name": "王芳"}},
        headers=api.as_("admin"),
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["subject"] == "【<programme>】跟岗任务提醒"
    assert preview.json()["body"].startswith("王芳校长：您的跟岗任务还有<days_left>天到期")

    schema = await api.http.get("/api/v1/programmes/schema", headers=api.as_("auditor"))
    assert schema.status_code == 200
    assert "placement" in schema.json()["properties"]["stages"]["items"]["discriminator"]["mapping"]
    assert (await api.http.get("/api/v1/programmes/schema")).status_code == 401


async def test_every_route_needs_a_token_and_the_right_role(api: Api) -> None:
    assert (await api.http.get("/api/v1/programmes")).status_code == 401
    garbage = await api.http.get("/api/v1/programmes", headers={"Authorization": "Bearer cf_nope"})
    assert garbage.status_code == 401 and garbage.json()["detail"] == "unknown or revoked token"
    denied = await api.http.post("/api/v1/programmes", json=template(), headers=api.as_("coordinator"))
    assert denied.status_code == 403 and denied.json()["detail"] == "role coordinator may not programmes:write"
    start = {"cohort_id": "x", "programme_id": "p", "version": 1}
    for role in ("coordinator", "auditor", "reminder"):
        assert (await api.http.post("/api/v1/cohorts", json=start, headers=api.as_(role))).status_code == 403
    assert (await api.http.get("/api/v1/audit/digest", headers=api.as_("coordinator"))).status_code == 403
    assert (await api.http.get("/api/v1/audit/digest", headers=api.as_("auditor"))).status_code == 200


async def test_a_cohort_is_started_fed_by_imports_and_steered(
    api: Api, store: EventStore, time_skipping: WorkflowEnvironment
) -> None:
    await submit(api, template())
    unknown = await api.http.post(
        "/api/v1/cohorts", json={"cohort_id": "c1", "programme_id": "nope", "version": 1}, headers=api.as_("admin")
    )
    assert unknown.status_code == 404 and "programme nope has no version 1" in unknown.text
    started = await api.http.post(
        "/api/v1/cohorts",
        json={"cohort_id": "c1", "programme_id": PROGRAMME.id, "version": 1},
        headers=api.as_("admin"),
    )
    assert started.status_code == 201, started.text
    twice = await api.http.post(
        "/api/v1/cohorts",
        json={"cohort_id": "c1", "programme_id": PROGRAMME.id, "version": 1},
        headers=api.as_("admin"),
    )
    assert twice.status_code == 409
    await wait_for_status(time_skipping.client, "cohort-c1", lambda s: s.phase == "nomination")

    people = nominees(PROGRAMME, seed=5)
    bad_id = people[3].national_id[:-1] + ("0" if people[3].national_id[-1] != "0" else "1")
    dirty = [*people[:3], NomineeRow(**{**vars(people[3]), "national_id": bad_id}), *people[4:]]
    refused = await upload(api, "c1", "nominees", nominee_csv(dirty, "gb18030"))
    assert refused["http_status"] == 422 and refused["status"] == 422 and refused["outcome"] == "refused"
    assert refused["detail"] == f"the file was refused ({len(people):,} rows, 1 rejected); nothing was applied"
    assert refused["problems"] == [
        f"row 5, national_id: check digit is {bad_id[-1]}, expected {people[3].national_id[-1]}"
    ]
    assert (await event_types(store, "c1"))["CandidateNominated"] == 0  # nothing applied

    partial = await upload(api, "c1", "nominees", nominee_csv(dirty, "gb18030"), accept_partial="true")
    assert partial["status"] == "applied" and partial["applied"] == len(people) - 1 and partial["rejected"] == 1
    rejects = await api.http.get(f"/api/v1/imports/{partial['digest']}/rejects", headers=api.as_("admin"))
    assert rejects.status_code == 200 and "row 5" not in rejects.text.splitlines()[0]
    assert rejects.text.splitlines()[1].startswith("5,")
    again = await upload(api, "c1", "nominees", nominee_csv(dirty, "gb18030"), accept_partial="true")
    assert again["status"] == "duplicate" and again["already_applied"] == len(people) - 1 and again["rejected"] == 1
    version = await store.stream_version("cohort-c1")

    others = [p for p in people[3:4]] + [people[-1]]
    assert people[-1].prefecture_code != COORDINATED
    scoped = await upload(api, "c1", "nominees", nominee_csv(others), role="coordinator")
    assert scoped["http_status"] == 422
    assert any("is not your prefecture" in p for p in scoped["problems"])
    fixed = await upload(api, "c1", "nominees", nominee_csv(people[3:4]), role="coordinator")
    assert fixed["status"] == "applied" and fixed["applied"] == 1
    events = [e async for e in store.read_stream("cohort-c1", after_version=version)]
    assert {e.metadata["actor"] for e in events} == {"coordinator:coordinator-1"}

    wrong_phase = await upload(api, "c1", "attendance", b"participant_id,days_present\nP000001,3\n")
    assert wrong_phase["http_status"] == 409
    assert wrong_phase["detail"] == "a attendance file belongs to the field_study phase; the cohort is in nomination"
    unknown_column = await upload(api, "c1", "nominees", b"participant_id,colour\nP1,red\n")
    assert unknown_column["http_status"] == 422 and "colour" in unknown_column["problems"][0]

    status = (await api.http.get("/api/v1/cohorts/c1/status", headers=api.as_("auditor"))).json()
    assert status["phase"] == "nomination" and status["counters"]["candidates"] == len(people)

    not_open = await api.http.post(
        "/api/v1/cohorts/c1/close-phase", json={"phase": "selection", "reason": "x"}, headers=api.as_("admin")
    )
    assert not_open.status_code == 409 and "selection is not open" in not_open.json()["detail"]
    no_blocks = await api.http.post(
        "/api/v1/cohorts/c1/close-block", json={"block": "online", "reason": "x"}, headers=api.as_("admin")
    )
    assert no_blocks.status_code == 409
    assert no_blocks.json()["detail"] == (
        "this cohort runs the seven-phase form, which has phases, not blocks: use close-phase"
    )
    extend_block = {"block": "online", "new_close": "2030-01-01T00:00:00+08:00", "reason": "x"}
    no_block = await api.http.post("/api/v1/cohorts/c1/extend-block", json=extend_block, headers=api.as_("admin"))
    assert no_block.status_code == 409
    assert no_block.json()["detail"] == (
        "this cohort runs the seven-phase form, which has phases, not blocks: use extend-deadline"
    )
    coordinator_steer = await api.http.post(
        "/api/v1/cohorts/c1/close-phase", json={"phase": "nomination", "reason": "x"}, headers=api.as_("coordinator")
    )
    assert coordinator_steer.status_code == 403
    closed = await api.http.post(
        "/api/v1/cohorts/c1/close-phase", json={"phase": "nomination", "reason": "名额已满"}, headers=api.as_("admin")
    )
    assert closed.status_code == 200 and closed.json()["outcome"] == "closing"
    await time_skipping.sleep(timedelta(days=1))
    await wait_for_status(time_skipping.client, "cohort-c1", lambda s: s.phase == "online_study")

    hours = "participant_id,hours\n" + "".join(
        f"{p.participant_id},{150 if i % 2 else 80}\n" for i, p in enumerate(people)
    )
    study = await upload(api, "c1", "study_records", hours.encode("utf-8-sig"))
    assert study["status"] == "applied" and study["applied"] == len(people)
    out_of_range = await upload(api, "c1", "study_records", b"participant_id,hours\nP000001,5000\n")
    assert out_of_range["problems"] == ["row 2, hours: 5000 is out of range 0–2160 (the online phase's length)"]
    unknown_person = await upload(api, "c1", "deliverables", b"participant_id,deliverable\nP999999,reflection\n")
    assert unknown_person["problems"] == ["row 2, participant_id: unknown participant 'P999999' in this cohort"]

    corrected = await api.http.post(
        "/api/v1/cohorts/c1/corrections",
        json={"participant_id": "P000001", "field": "hours", "value": "120", "reason": "平台统计遗漏"},
        headers=api.as_("admin"),
    )
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["correction"] == {
        "participant_id": "P000001",
        "field": "hours",
        "previous": 80.0,
        "value": 120.0,
        "reason": "平台统计遗漏",
    }
    no_reason = await api.http.post(
        "/api/v1/cohorts/c1/corrections",
        json={"participant_id": "P000001", "field": "hours", "value": "120", "reason": ""},
        headers=api.as_("admin"),
    )
    assert no_reason.status_code == 422
    no_selection = await api.http.post(
        "/api/v1/cohorts/c1/fill-place", json={"reason": "补录"}, headers=api.as_("admin")
    )
    assert no_selection.status_code == 409 and "no selection has been made yet" in no_selection.json()["detail"]
    withdrawn = await api.http.post(
        "/api/v1/cohorts/c1/withdrawals",
        json={"participant_id": "P000002", "reason": "调动"},
        headers=api.as_("admin"),
    )
    assert withdrawn.json()["outcome"] == "withdrawn"
    recorded = [e async for e in store.read_stream("cohort-c1") if e.type in ("FactCorrected", "ParticipantWithdrawn")]
    assert [e.metadata["actor"] for e in recorded] == ["admin:admin-1", "admin:admin-1"]
    missing = await api.http.get("/api/v1/cohorts/nope/status", headers=api.as_("admin"))
    assert missing.status_code == 404
    assert json.loads((await api.http.get("/openapi.json")).text)["info"]["title"] == "cohortflow"


async def test_read_models_are_scoped_masked_and_exported(api: Api, time_skipping: WorkflowEnvironment) -> None:
    await submit(api, template())
    started = await api.http.post(
        "/api/v1/cohorts",
        json={"cohort_id": "r1", "programme_id": PROGRAMME.id, "version": 1},
        headers=api.as_("admin"),
    )
    assert started.status_code == 201
    await wait_for_status(time_skipping.client, "cohort-r1", lambda s: s.phase == "nomination")
    people = nominees(PROGRAMME, seed=9)
    applied = await upload(api, "r1", "nominees", nominee_csv(people))
    assert applied["status"] == "applied", applied
    await api.caught_up()

    whole = (await api.http.get("/api/v1/cohorts/r1/funnel", headers=api.as_("auditor"))).json()
    assert whole["totals"]["nominated"] == len(people)
    own = (await api.http.get("/api/v1/cohorts/r1/funnel", headers=api.as_("coordinator"))).json()
    mine = [p for p in people if p.prefecture_code == COORDINATED]
    assert own["totals"]["nominated"] == len(mine) and [r["code"] for r in own["prefectures"]] == [COORDINATED]
    listed = (await api.http.get("/api/v1/cohorts", headers=api.as_("reminder"))).json()
    assert [c["cohort_id"] for c in listed] == ["r1"]

    first, other = mine[0], next(p for p in people if p.prefecture_code != COORDINATED)
    seen = (
        await api.http.get(f"/api/v1/cohorts/r1/participants/{first.participant_id}", headers=api.as_("coordinator"))
    ).json()
    assert seen["national_id"] != first.national_id and seen["national_id"][:6] == first.national_id[:6]
    shown = (
        await api.http.get(f"/api/v1/cohorts/r1/participants/{first.participant_id}", headers=api.as_("auditor"))
    ).json()
    assert shown["national_id"] == first.national_id
    hidden = await api.http.get(
        f"/api/v1/cohorts/r1/participants/{other.participant_id}", headers=api.as_("coordinator")
    )
    assert hidden.status_code == 404
    other_timeline = f"/api/v1/cohorts/r1/participants/{other.participant_id}/timeline"
    assert (await api.http.get(other_timeline, headers=api.as_("coordinator"))).status_code == 404
    assert (await api.http.get(other_timeline, headers=api.as_("auditor"))).status_code == 200
    unknown = await api.http.get("/api/v1/cohorts/r1/participants/P999999/timeline", headers=api.as_("auditor"))
    assert unknown.status_code == 404

    timeline = (
        await api.http.get(f"/api/v1/cohorts/r1/participants/{first.participant_id}/timeline", headers=api.as_("admin"))
    ).json()
    assert [e["type"] for e in timeline["entries"]] == ["CandidateNominated"]
    assert timeline["entries"][0]["actor"] == "admin:admin-1"
    statement = (
        await api.http.get(f"/api/v1/cohorts/r1/participants/{first.participant_id}/credits", headers=api.as_("admin"))
    ).json()
    assert statement["entries"] == [] and statement["total_hours"] == 0

    masked = await api.http.get("/api/v1/cohorts/r1/exports/nominees", headers=api.as_("coordinator"))
    assert masked.status_code == 200 and masked.content.startswith("\ufeff".encode())
    lines = masked.text.lstrip("\ufeff").splitlines()
    assert len(lines) == 1 + len(mine) and first.national_id not in masked.text
    full = await api.http.get("/api/v1/cohorts/r1/exports/nominees", headers=api.as_("auditor"))
    assert first.national_id in full.text and other.national_id in full.text
    xlsx = await api.http.get(
        "/api/v1/cohorts/r1/exports/selected", params={"format": "xlsx"}, headers=api.as_("admin")
    )
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert (await api.http.get("/api/v1/cohorts/r1/exports/nominees", headers=api.as_("reminder"))).status_code == 403
    assert (await api.http.get("/api/v1/cohorts/nope/exports/nominees", headers=api.as_("admin"))).status_code == 404


async def test_text_postgresql_cannot_store_is_refused_not_retried(
    api: Api, time_skipping: WorkflowEnvironment
) -> None:
    await submit(api, template())
    bad_template = await api.http.post(
        "/api/v1/programmes/validate", json=template(name="a\x00b"), headers=api.as_("admin")
    )
    assert bad_template.status_code == 422 and any("U+0000" in p for p in bad_template.json()["problems"])
    started = await api.http.post(
        "/api/v1/cohorts",
        json={"cohort_id": "nul", "programme_id": PROGRAMME.id, "version": 1},
        headers=api.as_("admin"),
    )
    assert started.status_code == 201
    await wait_for_status(time_skipping.client, "cohort-nul", lambda s: s.phase == "nomination")
    for path, body in (
        ("close-phase", {"phase": "nomination", "reason": "a\x00b"}),
        ("withdrawals", {"participant_id": "P000001", "reason": "a\x00b"}),
        ("corrections", {"participant_id": "P000001", "field": "role", "value": "a\x00b", "reason": "x"}),
    ):
        refused = await api.http.post(f"/api/v1/cohorts/nul/{path}", json=body, headers=api.as_("admin"))
        assert refused.status_code == 422 and "control character (such as NUL)" in refused.text, path
    # JSON's \ud800 escape gives a lone surrogate, which UTF-8 cannot encode: refused by name, and the refusal,
    # which echoes it, is still JSON.
    as_json = {**api.as_("admin"), "Content-Type": "application/json"}
    for path, body in (
        ("close-phase", {"phase": "nomination", "reason": "a\ud800b"}),
        ("withdrawals", {"participant_id": "P000001", "reason": "a\ud800b"}),
    ):
        refused = await api.http.post(f"/api/v1/cohorts/nul/{path}", content=json.dumps(body), headers=as_json)
        assert refused.status_code == 422, path
        assert [(p["loc"], p["input"]) for p in refused.json()["problems"]] == [(["body", "reason"], "a\ud800b")]
    bad_template = await api.http.post(
        "/api/v1/programmes/validate", content=json.dumps(template(name="a\ud800b")), headers=as_json
    )
    assert bad_template.status_code == 422 and any("U+D800" in p for p in bad_template.json()["problems"])
    status = (await api.http.get("/api/v1/cohorts/nul/status", headers=api.as_("admin"))).json()
    assert status["phase"] == "nomination"
