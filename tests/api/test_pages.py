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


async def test_programme_versions_are_filtered_by_kind_name_and_prefecture_a_page_at_a_time(api: Api) -> None:
    await submit(api, template())
    await submit(api, template(2, name="第二版"))
    await submit(api, template(id="thematic-a", kind="thematic", name="专题研修 书记"))
    await submit(api, template(id="thematic-b", kind="thematic", name="专题研修 乡村教师"))

    def listed(pages: list[list[dict[str, object]]]) -> list[tuple[object, object]]:
        return [(v["programme_id"], v["version"]) for page in pages for v in page]

    everything = await every_page(api, "/api/v1/programmes?limit=3")
    assert [len(page) for page in everything] == [3, 1]
    assert listed(everything) == [(PROGRAMME.id, 1), (PROGRAMME.id, 2), ("thematic-a", 1), ("thematic-b", 1)]
    thematic = await every_page(api, "/api/v1/programmes?kind=thematic&limit=1")
    assert [len(page) for page in thematic] == [1, 1] and listed(thematic) == [("thematic-a", 1), ("thematic-b", 1)]
    by_name = await every_page(api, "/api/v1/programmes?name=书记&limit=1")
    assert [len(page) for page in by_name] == [1, 1]  # the sample's first version's name holds 书记 too
    assert listed(by_name) == [(PROGRAMME.id, 1), ("thematic-a", 1)]
    assert listed(await every_page(api, "/api/v1/programmes?name=乡村")) == [("thematic-b", 1)]
    assert listed(await every_page(api, "/api/v1/programmes?kind=improvement&name=第二版")) == [(PROGRAMME.id, 2)]
    ours = PROGRAMME.prefectures[0].code
    assert len(listed(await every_page(api, f"/api/v1/programmes?prefecture={ours}"))) == 4
    assert await every_page(api, "/api/v1/programmes?prefecture=110100") == [[]]
    one = await every_page(api, f"/api/v1/programmes/{PROGRAMME.id}/versions?limit=1")
    assert listed(one) == [(PROGRAMME.id, 1), (PROGRAMME.id, 2)]

    headers = api.as_("admin")
    refused_400(
        await api.http.get("/api/v1/programmes?kind=seminar", headers=headers),
        "query parameter kind is not valid: Input should be 'qualification', 'improvement', 'advanced' or 'thematic'",
    )
    refused_400(
        await api.http.get("/api/v1/programmes?prefecture=43", headers=headers),
        "query parameter prefecture is not valid: String should match pattern",
    )
    refused_400(
        await api.http.get("/api/v1/programmes?limit=abc", headers=headers),
        "query parameter limit is not valid: Input should be a valid integer",
    )
    several = await api.http.get("/api/v1/programmes?limit=0&kind=seminar", headers=headers)
    refused_400(several, "the parameters limit, kind are not valid")
    assert [p["loc"] for p in several.json()["problems"]] == [["query", "limit"], ["query", "kind"]]
    refused_400(await api.http.get("/api/v1/programmes?cursor=WzFd", headers=headers), "belongs to another list")
    chinese = await api.http.get("/api/v1/programmes?limit=x", headers=headers | {"Accept-Language": "zh"})
    assert chinese.status_code == 400 and chinese.json()["detail"].startswith("查询参数 limit 有误："), chinese.text


async def test_a_bad_date_or_path_parameter_is_refused_400_naming_it(api: Api) -> None:
    headers = api.as_("admin")
    refused_400(
        await api.http.get("/api/v1/people/k/standing?as_of=2024-13-01", headers=headers),
        "query parameter as_of is not valid: Input should be a valid date",
    )
    refused_400(
        await api.http.get("/api/v1/reviews/43/2024", headers=headers),
        "path parameter district is not valid: String should match pattern",
    )
    refused_400(
        await api.http.get("/api/v1/cohorts/stalled?min_minutes=-1", headers=headers),
        "query parameter min_minutes is not valid: Input should be greater than or equal to 0",
    )
