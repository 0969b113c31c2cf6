"""An outage of the store seen over HTTP: the cohort's status and the list of stalled cohorts say what is
held up, why and since when; an administrator's command accepted meanwhile is recorded once, when it ends."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from cohortflow.api import commands
from cohortflow.demo.sample import nominees
from cohortflow.store.eventstore import EventStore
from tests.api.conftest import PROGRAMME, Api
from tests.api.test_admin_api import nominee_csv, submit, template, upload
from tests.store_outage import Outage
from tests.workflows.helpers import event_types, eventually


async def status(api: Api) -> dict:  # type: ignore[type-arg]
    response = await api.http.get("/api/v1/cohorts/stall-close/status", headers=api.as_("coordinator"))
    assert response.status_code == 200, response.text
    found: dict = response.json()  # type: ignore[type-arg]
    return found


async def test_an_outage_shows_as_a_stall_and_a_command_accepted_meanwhile_is_recorded_once_it_ends(
    api: Api, time_skipping: WorkflowEnvironment, store: EventStore, outage: Outage
) -> None:
    await submit(api, template())
    admin = api.as_("admin")
    cohort = {"cohort_id": "stall-close", "programme_id": PROGRAMME_ID, "version": 1}
    started = await api.http.post("/api/v1/cohorts", json=cohort, headers=admin)
    assert started.status_code == 201, started.text
    await eventually(lambda: _recorded(store, "stall-close", "PhaseOpened"), "the cohort's first phase opened")
    assert (await status(api))["execution"] == {"state": "running", "stalled": None, "ended_because": None}

    outage.begin()
    began = await time_skipping.get_current_time()
    close = await api.http.post(
        "/api/v1/cohorts/stall-close/close-phase",
        json={"phase": "nomination", "reason": "all sheets in"},
        headers=admin,
    )
    assert close.status_code == 200 and close.json()["outcome"] == "closing", close.text
    await time_skipping.sleep(timedelta(minutes=2))
    during = await status(api)
    stall = during["execution"]["stalled"]
    assert during["execution"]["state"] == "running" and during["phase"] == "nomination"
    assert stall["step"] == "record_cycle_event" and stall["attempt"] >= 3, stall
    assert stall["reason"].startswith("DiskFull: could not extend file: No space left on device")
    assert abs(datetime.fromisoformat(stall["since"]) - began) < timedelta(seconds=30)

    await api.caught_up()
    listed = await api.http.get("/api/v1/cohorts/stalled", headers=api.as_("admin"))
    assert listed.status_code == 200, listed.text
    assert [(s["cohort_id"], s["stall"]["step"]) for s in listed.json()] == [("stall-close", "record_cycle_event")]
    assert (await api.http.get("/api/v1/cohorts/stalled", headers=api.as_("coordinator"))).status_code == 403
    for query, found in (
        (f"programme_id={PROGRAMME_ID}&phase=nomination&step=record_cycle_event", ["stall-close"]),
        ("programme_id=another", []),
        ("phase=selection", []),
        ("step=cycle_event", []),  # a step by its whole name
        ("min_minutes=100000", []),
    ):
        filtered = await api.http.get(f"/api/v1/cohorts/stalled?{query}", headers=api.as_("admin"))
        assert [s["cohort_id"] for s in filtered.json()] == found, (query, filtered.text)
    scraped = await api.http.get("/api/v1/metrics", headers=api.as_("reminder"))
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain"), scraped.text
    assert "cohortflow_stalled_cohorts 1.0" in scraped.text
    gauge = 'cohortflow_cohort_stalled_since_timestamp_seconds{cohort="stall-close",step="record_cycle_event"}'
    since = re.search(re.escape(gauge) + r" (\S+)", scraped.text)
    assert since is not None, scraped.text
    assert float(since[1]) == datetime.fromisoformat(stall["since"]).timestamp()

    outage.end()
    await time_skipping.sleep(timedelta(minutes=1))
    await eventually(
        lambda: _recorded(store, "stall-close", "PhaseClosed"), "the early close recorded after the outage"
    )
    closes = [e.data async for e in store.read_stream("cohort-stall-close") if e.type == "PhaseClosed"]
    assert [(c["phase"], c["closed_early"]) for c in closes] == [("nomination", True)]
    assert (await status(api))["execution"]["stalled"] is None
    assert (await api.http.get("/api/v1/cohorts/stalled", headers=api.as_("admin"))).json() == []
    assert "cohortflow_stalled_cohorts 0.0" in (await api.http.get("/api/v1/metrics", headers=api.as_("admin"))).text

    await time_skipping.client.get_workflow_handle("cohort-stall-close").terminate(reason="replaced by c2")
    ended = (await status(api))["execution"]
    assert ended == {"state": "terminated", "stalled": None, "ended_because": "terminated: replaced by c2"}


PROGRAMME_ID = str(template()["id"])


async def _recorded(store: EventStore, cohort_id: str, event_type: str) -> bool:
    return event_type in await event_types(store, cohort_id)


async def test_an_import_sent_during_an_outage_is_answered_202_and_applied_once_when_it_ends(
    api: Api, time_skipping: WorkflowEnvironment, store: EventStore, outage: Outage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commands, "COMMAND_WAIT", 1.0)
    await submit(api, template())
    admin = api.as_("admin")
    started = await api.http.post(
        "/api/v1/cohorts", json={"cohort_id": "stall-import", "programme_id": PROGRAMME_ID, "version": 1}, headers=admin
    )
    assert started.status_code == 201, started.text
    await eventually(lambda: _recorded(store, "stall-import", "PhaseOpened"), "the cohort's first phase opened")
    people = nominees(PROGRAMME, seed=3)[:12]

    outage.begin()
    sent = await upload(api, "stall-import", "nominees", nominee_csv(people))
    assert sent["http_status"] == 202, sent
    location = f"/api/v1/commands/{sent['command_id']}"
    assert "accepted and not yet applied" in sent["detail"]
    still = await api.http.get(location, headers=admin)
    assert still.status_code == 202 and still.headers["Location"] == location, still.text
    assert (await api.http.get(location, headers=api.as_("auditor"))).status_code == 403

    outage.end()
    await time_skipping.sleep(timedelta(minutes=1))
    await eventually(lambda: _recorded(store, "stall-import", "ImportApplied"), "the import applied at last")
    done = await api.http.get(location, headers=admin)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "applied" and done.json()["applied"] == len(people)
    assert (await event_types(store, "stall-import"))["CandidateNominated"] == len(people)
    assert (await api.http.get("/api/v1/commands/not-a-command", headers=admin)).status_code == 404
