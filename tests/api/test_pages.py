"""Lists come a page at a time (limit, an opaque cursor, Link rel=next) with filters; participants can be searched."""

from __future__ import annotations

import base64
import json
import re

import httpx
from temporalio.testing import WorkflowEnvironment

from cohortflow.demo.sample import nominees
from cohortflow.domain.national_id import mask
from tests.api.conftest import COORDINATED, PROGRAMME, Api
from tests.api.test_admin_api import nominee_csv, submit, template, upload
from tests.api.test_problem_answers import assert_problem
from tests.workflows.helpers import wait_for_status

NEXT = re.compile(r'^<(?P<address>[^>]+)>; rel="next"$')


async def every_page(api: Api, address: str, role: str = "admin") -> list[list[dict[str, object]]]:
    """The pages of a list, following each answer's Link to the next."""
    pages: list[list[dict[str, object]]] = []
    following: str | None = address
    while following is not None:
        answer = await api.http.get(following, headers=api.as_(role))
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        link = answer.headers.get("Link")
        following = None if link is None else NEXT.fullmatch(link)["address"]  # type: ignore[index]
    return pages


def refused_400(answer: httpx.Response, reason: str) -> None:
    assert reason in str(assert_problem(answer, 400, answer.request.url.path)["detail"])


async def test_cohorts_and_programmes_come_a_page_at_a_time(api: Api, time_skipping: WorkflowEnvironment) -> None:
    await submit(api, template())
    await submit(api, template(2, name="第二版"))
    for cohort in ("pa", "pb", "pc"):
        body = {"cohort_id": cohort, "programme_id": PROGRAMME.id, "version": 1}
        assert (await api.http.post("/api/v1/cohorts", json=body, headers=api.as_("admin"))).status_code == 201
        await wait_for_status(time_skipping.client, f"cohort-{cohort}", lambda s: s.phase == "nomination")
    await api.caught_up()

    pages = await every_page(api, "/api/v1/cohorts?limit=2")
    assert [[c["cohort_id"] for c in page] for page in pages] == [["pa", "pb"], ["pc"]]
    running = await every_page(api, f"/api/v1/cohorts?state=running&programme_id={PROGRAMME.id}")
    assert [c["cohort_id"] for c in running[0]] == ["pa", "pb", "pc"]
    assert await every_page(api, "/api/v1/cohorts?phase=selection") == [[]]
    assert await every_page(api, "/api/v1/cohorts?state=completed") == [[]]
    assert await every_page(api, "/api/v1/cohorts?programme_id=nope") == [[]]

    versions = await every_page(api, "/api/v1/programmes?limit=1")
    assert [[v["version"] for v in page] for page in versions] == [[1], [2]]
    of_one = await every_page(api, f"/api/v1/programmes/{PROGRAMME.id}/versions?limit=5")
    assert [v["version"] for v in of_one[0]] == [1, 2]

    headers = api.as_("admin")
    refused_400(
        await api.http.get("/api/v1/cohorts?state=paused", headers=headers),
        "query parameter state is not valid: Input should be 'running' or 'completed'",
    )
    refused_400(
        await api.http.get("/api/v1/cohorts?limit=0", headers=headers),
        "query parameter limit is not valid: Input should be greater than or equal to 1",
    )
    refused_400(await api.http.get("/api/v1/cohorts?cursor=%%%", headers=headers), "not readable")
    versions_cursor = base64.urlsafe_b64encode(json.dumps([PROGRAMME.id, 1]).encode()).decode()
    another = await api.http.get(f"/api/v1/cohorts?cursor={versions_cursor}", headers=headers)
    refused_400(another, "belongs to another list")


async def test_participants_are_found_by_name_school_or_id_within_the_callers_prefecture(
    api: Api, time_skipping: WorkflowEnvironment
) -> None:
    await submit(api, template())
    body = {"cohort_id": "ps", "programme_id": PROGRAMME.id, "version": 1}
    assert (await api.http.post("/api/v1/cohorts", json=body, headers=api.as_("admin"))).status_code == 201
    await wait_for_status(time_skipping.client, "cohort-ps", lambda s: s.phase == "nomination")
    people = nominees(PROGRAMME, seed=3)[:40]
    assert (await upload(api, "ps", "nominees", nominee_csv(people)))["status"] == "applied"
    await api.caught_up()
    address = "/api/v1/cohorts/ps/participants"
    home = [p for p in people if p.prefecture_code == COORDINATED]
    away = next(p for p in people if p.prefecture_code != COORDINATED)
    assert home, "the sample has people of the coordinator's prefecture"

    everyone = await every_page(api, f"{address}?limit=15")
    assert [len(page) for page in everyone] == [15, 15, 10]
    assert [p["participant_id"] for page in everyone for p in page] == sorted(p.participant_id for p in people)

    surname = home[0].name[0]
    named = (await every_page(api, f"{address}?name={surname}"))[0]
    assert {p["participant_id"] for p in named} == {p.participant_id for p in people if surname in p.name}
    school = (await every_page(api, f"{address}?school={home[0].school}"))[0]
    assert home[0].participant_id in {p["participant_id"] for p in school}
    assert all(home[0].school in str(p["school"]) for p in school)

    whole = (await every_page(api, f"{address}?national_id={away.national_id}"))[0]
    assert [p["participant_id"] for p in whole] == [away.participant_id]
    masked = (await every_page(api, f"{address}?national_id={mask(home[0].national_id)}", "coordinator"))[0]
    assert home[0].participant_id in {p["participant_id"] for p in masked}
    assert all(p["national_id"] == mask(home[0].national_id) for p in masked)
    coordinated = [p for page in await every_page(api, address, "coordinator") for p in page]
    assert {p["participant_id"] for p in coordinated} == {p.participant_id for p in home}

    coordinator = api.as_("coordinator")
    not_masked = await api.http.get(f"{address}?national_id={home[0].national_id}", headers=coordinator)
    refused_400(not_masked, "search by the masked number")
    refused_400(await api.http.get(f"{address}?national_id=4301**", headers=coordinator), "national_id: a masked")
