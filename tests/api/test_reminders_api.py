"""Reminder previews and the list of given-up messages, over HTTP against the real app."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from cohortflow.demo.sample import nominees, sample_programme
from tests.api.conftest import COORDINATED, Api
from tests.workflows.helpers import wait_for_status

PROGRAMME = sample_programme(120, 20, reminders=True)


async def submitted(api: Api) -> None:
    body = PROGRAMME.model_dump(mode="json")
    assert (await api.http.post("/api/v1/programmes", json=body, headers=api.as_("admin"))).status_code == 201


async def test_a_rules_message_is_previewed_in_either_language(api: Api) -> None:
    await submitted(api)
    url = f"/api/v1/programmes/{PROGRAMME.id}/versions/1/reminders/study-hours/preview"
    zh = await api.http.post(url, json={"values": {"name": "王芳", "hours": "42"}}, headers=api.as_("coordinator"))
    assert zh.status_code == 200, zh.text
    assert zh.json()["locale"] == "zh" and zh.json()["body"].startswith("王芳老师：您目前的网络研修学时为42")
    assert "<deadline>" in zh.json()["body"]  # values not given show as their placeholder
    en = (await api.http.post(url, json={"locale": "en"}, headers=api.as_("admin"))).json()
    assert en["body"].startswith("Dear <name>, you have <hours> of the <required_hours> hours")

    unknown = await api.http.post(url, json={"values": {"salary": "1"}}, headers=api.as_("admin"))
    assert unknown.status_code == 422 and "unknown placeholder(s) for participants: salary" in unknown.text
    missing = await api.http.post(url.replace("study-hours", "nope"), json={}, headers=api.as_("admin"))
    assert missing.status_code == 404 and "has no reminder rule 'nope'" in missing.text
    assert (await api.http.post(url, json={})).status_code == 401


async def test_a_participants_preview_and_the_messages_given_up(api: Api, time_skipping: WorkflowEnvironment) -> None:
    await submitted(api)
    start = {"cohort_id": "rm1", "programme_id": PROGRAMME.id, "version": 1}
    assert (await api.http.post("/api/v1/cohorts", json=start, headers=api.as_("admin"))).status_code == 201
    await wait_for_status(time_skipping.client, "cohort-rm1", lambda s: s.phase == "nomination")
    people = nominees(PROGRAMME, seed=9)
    columns = ["participant_id", "name", "national_id", "gender", "prefecture_code", "email", "locale"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for p in people:
        writer.writerow([getattr(p, c) for c in columns])
    sheet = {"file": ("nominees.csv", out.getvalue().encode(), "text/csv")}
    applied = await api.http.post("/api/v1/cohorts/rm1/imports/nominees", files=sheet, headers=api.as_("admin"))
    assert applied.json()["status"] == "applied", applied.text
    await api.caught_up()

    english = next(p for p in people if p.locale == "en")
    url = "/api/v1/cohorts/rm1/reminders/study-hours/preview"
    own = await api.http.post(url, json={"participant_id": english.participant_id}, headers=api.as_("admin"))
    assert own.status_code == 200, own.text
    assert own.json()["locale"] == "en" and own.json()["body"].startswith(f"Dear {english.name}, you have 0 of the 100")
    stranger = await api.http.post(url, json={"participant_id": "P999999"}, headers=api.as_("admin"))
    assert stranger.status_code == 404 and "P999999 is not in cohort rm1" in stranger.text
    elsewhere = next(p for p in people if p.prefecture_code != COORDINATED)
    mine = next(p for p in people if p.prefecture_code == COORDINATED)
    coordinator = api.as_("coordinator")
    hidden = await api.http.post(url, json={"participant_id": elsewhere.participant_id}, headers=coordinator)
    assert hidden.status_code == 404 and elsewhere.name not in hidden.text  # as if they were not in the cohort
    assert (await api.http.post(url, json={"participant_id": mine.participant_id}, headers=coordinator)).is_success

    # Online study's 7-day reminder: those without an email address are listed as given up, with the reason.
    await time_skipping.sleep(timedelta(days=114))
    failures = await api.http.get("/api/v1/reminders/failures", params={"cohort": "rm1"}, headers=api.as_("admin"))
    assert failures.status_code == 200
    no_email = {p.participant_id for p in people if p.email is None}
    assert no_email and {f["recipient"] for f in failures.json()} >= no_email
    assert {f["reason"] for f in failures.json()} == {"no email address on record"}
    forbidden = await api.http.get("/api/v1/reminders/failures", headers=api.as_("coordinator"))
    assert forbidden.status_code == 403
