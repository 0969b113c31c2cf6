"""A cohort started from the API and fed only by imports runs to completion, and its participants earn credits.

Nothing comes from the sample feed: the programme is the shipped example
template and every fact arrives as one of the shipped example import files,
uploaded to the API while its phase is open, as an administrator would send it.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from cohortflow.imports.reading import open_table
from cohortflow.imports.typed import typed_rows
from cohortflow.store.eventstore import EventStore
from cohortflow.workflows.cohort_cycle import CohortCycleWorkflow
from tests.api.conftest import Api
from tests.workflows.helpers import event_types, wait_for_status

EXAMPLES = Path(__file__).parents[2] / "examples"
IMPORTS = EXAMPLES / "imports"
COHORT = "2024-hn"


async def upload(api: Api, kind: str, file: Path | bytes, role: str = "admin") -> dict:  # type: ignore[type-arg]
    name, content = (file.name, file.read_bytes()) if isinstance(file, Path) else (f"{kind}.csv", file)
    response = await api.http.post(
        f"/api/v1/cohorts/{COHORT}/imports/{kind}", files={"file": (name, content)}, headers=api.as_(role)
    )
    body: dict = {**response.json(), "http_status": response.status_code}  # type: ignore[type-arg]
    return body


async def enter(env: WorkflowEnvironment, phase: str, days: int) -> None:
    """Let the open phase run out (``days`` programme days) and wait until ``phase`` is open."""
    await env.sleep(timedelta(days=days))
    await wait_for_status(env.client, f"cohort-{COHORT}", lambda s: s.phase == phase)


def ids_in(kind: str) -> list[str]:
    rows = [typed for _, typed, _ in typed_rows(open_table(IMPORTS / f"{kind}.csv", kind))]  # type: ignore[arg-type]
    return list(dict.fromkeys(r.participant_id for r in rows if r is not None and hasattr(r, "participant_id")))


def test_the_example_nominee_sheets_say_the_same_in_csv_and_xlsx() -> None:
    def read(name: str) -> list[tuple[object, ...]]:
        return [
            (typed and {**vars(typed), "row": 0}, problems)
            for _, typed, problems in typed_rows(open_table(IMPORTS / name, "nominees"))
        ]

    from_csv, from_xlsx = read("nominees.csv"), read("nominees.xlsx")
    assert from_csv == from_xlsx and len(from_csv) == 28
    assert all(not problems for _, problems in from_csv)


@pytest.mark.slow
async def test_a_cohort_fed_only_by_the_example_imports_completes_with_credits(
    api: Api, store: EventStore, time_skipping: WorkflowEnvironment
) -> None:
    template = (EXAMPLES / "programmes" / "guopei-party-secretary.yaml").read_bytes()
    submitted = await api.http.post(
        "/api/v1/programmes", content=template, headers={**api.as_("admin"), "content-type": "application/yaml"}
    )
    assert submitted.status_code == 201, submitted.text
    started = await api.http.post(
        "/api/v1/cohorts",
        json={"cohort_id": COHORT, "programme_id": "guopei-party-secretary", "version": 1},
        headers=api.as_("admin"),
    )
    assert started.status_code == 201, started.text
    await wait_for_status(time_skipping.client, f"cohort-{COHORT}", lambda s: s.phase == "nomination")

    nominated = await upload(api, "nominees", IMPORTS / "nominees.xlsx")
    assert nominated["status"] == "applied" and nominated["applied"] == 28, nominated
    early = await upload(api, "return_reports", IMPORTS / "return_reports.csv")
    assert early["http_status"] == 409
    assert early["detail"] == "a return_reports file belongs to the return_to_post phase; the cohort is in nomination"

    await enter(time_skipping, "online_study", 30)
    assert (await upload(api, "study_records", IMPORTS / "study_records.csv"))["applied"] == 28
    assert (await upload(api, "deliverables", IMPORTS / "deliverables.csv"))["applied"] == 28 * 2 + 10

    await enter(time_skipping, "field_study", 90 + 14)
    await api.caught_up()
    exported = await api.http.get(
        f"/api/v1/cohorts/{COHORT}/exports/selected", params={"format": "csv"}, headers=api.as_("admin")
    )
    assert exported.status_code == 200, exported.text
    selected = [row["学员编号"] for row in csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff")))]
    assert sorted(selected) == ids_in("nominees")  # the target (800) is above the 28 nominees: all are selected
    assert (await upload(api, "attendance", IMPORTS / "attendance.csv"))["applied"] == 28

    await enter(time_skipping, "return_to_post", 60)
    reporters = ids_in("return_reports")
    silent = next(pid for pid in selected if pid not in reporters)
    assert (await upload(api, "return_reports", IMPORTS / "return_reports.csv"))["applied"] == len(reporters) == 27
    twice = await upload(api, "return_reports", f"participant_id\n{reporters[0]}\n{reporters[1]}\n".encode())
    assert (twice["http_status"], twice["status"], twice["already_applied"]) == (200, "duplicate", 2), twice

    await enter(time_skipping, "follow_up", 90)
    assert (await upload(api, "follow_up", IMPORTS / "follow_up.csv"))["applied"] == 28 * 4

    await time_skipping.sleep(timedelta(days=731))
    handle = time_skipping.client.get_workflow_handle_for(CohortCycleWorkflow.run, f"cohort-{COHORT}")
    assert (await handle.result()).counters.completed == len(reporters)
    counts = await event_types(store, COHORT)
    assert counts["ParticipantCompleted"] == counts["ReturnReportSubmitted"] == len(reporters)

    await api.caught_up()

    async def credits(pid: str) -> dict[str, float]:
        answer = await api.http.get(f"/api/v1/cohorts/{COHORT}/participants/{pid}/credits", headers=api.as_("auditor"))
        return {entry["phase"]: entry["hours"] for entry in answer.json()["entries"]}

    full = {"online_study": 50, "field_study": 60, "return_to_post": 20, "follow_up": 10, "completion": 10}
    assert await credits(reporters[0]) == full
    assert await credits(silent) == {"online_study": 50, "field_study": 60, "follow_up": 10}
