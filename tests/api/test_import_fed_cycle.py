"""A cohort started from the API and fed only by imports runs to completion, and its participants earn credits.

Nothing comes from the sample feed: nominees, hours, deliverables, attendance,
return reports and survey answers all arrive as files uploaded to the API while
their phase is open, as an administrator would send them.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from cohortflow.sample import nominees
from cohortflow.store.eventstore import EventStore
from cohortflow.workflows.cohort_cycle import CohortCycleWorkflow
from tests.api.conftest import PROGRAMME, Api
from tests.api.test_admin_api import nominee_csv, submit, template, upload
from tests.workflows.helpers import event_types, wait_for_status

COHORT = "fed"


def sheet(header: str, rows: list[str]) -> bytes:
    return (header + "\n" + "".join(f"{r}\n" for r in rows)).encode("utf-8")


async def enter(api: Api, env: WorkflowEnvironment, phase: str, days: int) -> None:
    """Let the open phase run out (``days`` programme days) and wait until ``phase`` is open."""
    await env.sleep(timedelta(days=days))
    await wait_for_status(env.client, f"cohort-{COHORT}", lambda s: s.phase == phase)


@pytest.mark.slow
async def test_a_cohort_fed_only_by_imports_completes_with_credits(
    api: Api, store: EventStore, time_skipping: WorkflowEnvironment
) -> None:
    await submit(api, template())
    started = await api.http.post(
        "/api/v1/cohorts",
        json={"cohort_id": COHORT, "programme_id": PROGRAMME.id, "version": 1},
        headers=api.as_("admin"),
    )
    assert started.status_code == 201, started.text
    await wait_for_status(time_skipping.client, f"cohort-{COHORT}", lambda s: s.phase == "nomination")

    people = nominees(PROGRAMME, seed=11)
    assert (await upload(api, COHORT, "nominees", nominee_csv(people)))["applied"] == len(people)
    early = await upload(api, COHORT, "return_reports", sheet("participant_id", [people[0].participant_id]))
    assert early["http_status"] == 409
    assert early["detail"] == "a return_reports file belongs to the return_to_post phase; the cohort is in nomination"

    await enter(api, time_skipping, "online_study", 30)
    ids = [p.participant_id for p in people]
    hours = await upload(
        api, COHORT, "study_records", sheet("学员编号,学时", [f"{pid},{120 + i}" for i, pid in enumerate(ids)])
    )
    assert hours["applied"] == len(ids)
    handed_in = [f"{pid},{code}" for pid in ids for code in ("improvement_plan", "reflection")]
    assert (await upload(api, COHORT, "deliverables", sheet("participant_id,deliverable", handed_in)))[
        "applied"
    ] == len(handed_in)

    await enter(api, time_skipping, "field_study", 90 + 14)
    await api.caught_up()
    exported = await api.http.get(
        f"/api/v1/cohorts/{COHORT}/exports/selected", params={"format": "csv"}, headers=api.as_("admin")
    )
    assert exported.status_code == 200, exported.text
    selected = [row["学员编号"] for row in csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff")))]
    assert len(selected) == PROGRAMME.selection.target
    attendance = await upload(
        api, COHORT, "attendance", sheet("participant_id,出勤天数", [f"{pid},14" for pid in selected])
    )
    assert attendance["applied"] == len(selected), attendance

    await enter(api, time_skipping, "return_to_post", 60)
    reporters, silent = selected[:-1], selected[-1]
    reports = await upload(api, COHORT, "return_reports", sheet("participant_id", reporters))
    assert reports["applied"] == len(reporters), reports
    not_selected = next(pid for pid in ids if pid not in selected)
    refused = await upload(api, COHORT, "return_reports", sheet("participant_id", [reporters[0], not_selected]))
    assert refused["problems"] == [
        f"row 2, participant_id: {reporters[0]} has already handed in a return report",
        f"row 3, participant_id: {not_selected} was not selected for the offline phase",
    ]

    await enter(api, time_skipping, "follow_up", 90)
    answers = [f"{pid},{survey},4" for pid in selected for survey in ("m1", "m6", "y1", "y2")]
    assert (await upload(api, COHORT, "follow_up", sheet("participant_id,survey,satisfaction", answers)))[
        "applied"
    ] == len(answers)

    await time_skipping.sleep(timedelta(days=731))
    result = await time_skipping.client.get_workflow_handle_for(CohortCycleWorkflow.run, f"cohort-{COHORT}").result()
    assert result.counters.completed == len(reporters)
    counts = await event_types(store, COHORT)
    assert counts["ParticipantCompleted"] == len(reporters)
    assert counts["ReturnReportSubmitted"] == len(reporters)

    await api.caught_up()
    statement = (
        await api.http.get(f"/api/v1/cohorts/{COHORT}/participants/{reporters[0]}/credits", headers=api.as_("auditor"))
    ).json()
    earned = {entry["phase"]: entry["hours"] for entry in statement["entries"]}
    assert earned == {"online_study": 50, "field_study": 60, "return_to_post": 20, "follow_up": 10, "completion": 10}
    missed = (
        await api.http.get(f"/api/v1/cohorts/{COHORT}/participants/{silent}/credits", headers=api.as_("auditor"))
    ).json()
    assert {entry["phase"] for entry in missed["entries"]} == {"online_study", "field_study", "follow_up"}
