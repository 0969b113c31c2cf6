"""A command that is not a Temporal Update, sent again under its Idempotency-Key, is run once and its first answer
given again (marked ``Idempotent-Replayed``); another request under the key is refused, one sent while the first
is being answered waits its turn (409), and a claim left by a request that died lapses."""

from __future__ import annotations

import asyncio
from collections import Counter

import psycopg
import pytest
from temporalio.testing import WorkflowEnvironment

from cohortflow.access.tokens import issue_token
from cohortflow.api import idempotency
from cohortflow.domain.events import CertificateIssued, ParticipantCompleted
from cohortflow.store.eventstore import APPEND_LOCK, EventStore
from tests.api.conftest import PROGRAMME, Api
from tests.api.test_admin_api import submit, template
from tests.api.test_problem_answers import assert_problem
from tests.readmodels import write_cohort
from tests.workflows.helpers import wait_for_status

PROGRAMMES = "/api/v1/programmes"


def keyed(api: Api, key: str, role: str = "admin") -> dict[str, str]:
    return api.as_(role) | {"Idempotency-Key": key}


async def versions_recorded(store: EventStore) -> int:
    return len([e async for e in store.read_stream("programmes")])


async def test_a_cohort_started_again_under_its_key_is_started_once_and_answered_alike(
    api: Api, store: EventStore, time_skipping: WorkflowEnvironment
) -> None:
    await submit(api, template())
    body = {"cohort_id": "kept", "programme_id": PROGRAMME.id, "version": 1}
    first = await api.http.post("/api/v1/cohorts", json=body, headers=keyed(api, "start-kept"))
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers, first.text
    again = await api.http.post("/api/v1/cohorts", json=body, headers=keyed(api, "start-kept"))
    assert (again.status_code, again.content) == (201, first.content)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["content-type"] == first.headers["content-type"]
    unkeyed = await api.http.post("/api/v1/cohorts", json=body, headers=api.as_("admin"))
    assert "exists" in str(assert_problem(unkeyed, 409, "/api/v1/cohorts")["detail"])  # without a key, as before

    another = {**body, "cohort_id": "kept-2"}
    other = await api.http.post("/api/v1/cohorts", json=another, headers=keyed(api, "start-kept"))
    assert "first used for another POST request to /api/v1/cohorts" in str(
        assert_problem(other, 422, "/api/v1/cohorts")["detail"]
    )
    # A key is the caller's own: another token's request under it is its own request.
    theirs = await api.http.post("/api/v1/cohorts", json=body, headers=keyed(api, "start-kept", "coordinator"))
    assert theirs.status_code == 403 and "Idempotent-Replayed" not in theirs.headers
    await wait_for_status(time_skipping.client, "cohort-kept", lambda s: s.phase == "nomination")
    started = [e async for e in store.read_stream("cohort-kept") if e.type == "CohortStarted"]
    assert len(started) == 1


async def test_a_programme_version_sent_again_under_its_key_is_answered_as_first_and_a_refusal_is_not_kept(
    api: Api, store: EventStore
) -> None:
    wrong = await api.http.post(PROGRAMMES, json=template(2), headers=keyed(api, "v1"))
    assert_problem(wrong, 422, PROGRAMMES)  # version 2 before 1: refused, nothing recorded, nothing kept
    first = await api.http.post(PROGRAMMES, json=template(), headers=keyed(api, "v1"))
    assert first.status_code == 201 and first.json()["duplicate"] is False, first.text
    again = await api.http.post(PROGRAMMES, json=template(), headers=keyed(api, "v1"))
    assert (again.status_code, again.json(), again.headers["Idempotent-Replayed"]) == (201, first.json(), "true")
    unkeyed = await api.http.post(PROGRAMMES, json=template(), headers=api.as_("admin"))
    assert unkeyed.json()["duplicate"] is True  # run again: the store records the same version once anyway
    assert await versions_recorded(store) == 1


async def test_certificates_issued_again_under_the_key_are_issued_once_and_answered_alike(
    api: Api, store: EventStore
) -> None:
    w = await write_cohort(store, "kept-cert", candidates=100, selected=20)
    await api.caught_up()
    url = "/api/v1/cohorts/kept-cert/certificates"
    first = await api.http.post(url, headers=keyed(api, "issue-1"))
    assert first.status_code == 200 and first.json()["issued"] > 0, first.text
    again = await api.http.post(url, headers=keyed(api, "issue-1"))
    assert (again.status_code, again.json(), again.headers["Idempotent-Replayed"]) == (200, first.json(), "true")
    issued = [e.data["participant_id"] async for e in store.read_all() if e.type == CertificateIssued.TYPE]
    assert len(issued) == first.json()["issued"] and max(Counter(issued).values()) == 1

    # After another participant completes, a new key issues theirs; the old key still answers its first answer.
    late = next(pid for pid in w.facts.participants if pid not in issued)
    await w.record("late-completion", [ParticipantCompleted(participant_id=late)])
    later = await api.http.post(url, headers=keyed(api, "issue-2"))
    assert later.json()["issued"] == 1, later.text
    assert (await api.http.post(url, headers=keyed(api, "issue-1"))).json() == first.json()


async def test_a_token_of_the_same_name_and_role_is_another_caller(api: Api, store: EventStore) -> None:
    """Token names need not be unique: keys belong to the token itself, so another token named alike neither gets
    the first one's kept answer nor learns that the key was used."""
    twin = await issue_token(store.pool, name="admin-1", role="admin", issued_by="tests", prefecture=None)
    first = await api.http.post(PROGRAMMES, json=template(), headers=keyed(api, "twins"))
    assert first.status_code == 201, first.text
    theirs = await api.http.post(
        PROGRAMMES, json=template(), headers={"Authorization": f"Bearer {twin.secret}", "Idempotency-Key": "twins"}
    )
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers, theirs.text
    assert theirs.json()["duplicate"] is True  # run as its own request: the same version is recorded once


async def test_a_request_sent_while_the_first_is_answered_is_refused_409_until_that_answer_is_kept(
    api: Api, store: EventStore, database_url: str
) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as holder, holder.transaction():
        # Every append waits for this lock: the first request holds its key's claim, and waits, mid-way.
        await holder.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
        first = asyncio.ensure_future(api.http.post(PROGRAMMES, json=template(), headers=keyed(api, "busy")))
        await _claimed(database_url, "busy")
        second = await api.http.post(PROGRAMMES, json=template(), headers=keyed(api, "busy"))
        detail = assert_problem(second, 409, PROGRAMMES)["detail"]
        assert "still being answered" in str(detail) and int(second.headers["Retry-After"]) == idempotency.RETRY_SECONDS
        assert not first.done()
    answered = await first
    assert answered.status_code == 201 and answered.json()["duplicate"] is False, answered.text
    third = await api.http.post(PROGRAMMES, json=template(), headers=keyed(api, "busy"))
    assert (third.json(), third.headers["Idempotent-Replayed"]) == (answered.json(), "true")
    assert await versions_recorded(store) == 1


async def test_a_claim_left_by_a_request_that_did_not_finish_lapses_and_the_command_runs_once(
    api: Api, store: EventStore, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "CLAIM_SECONDS", 1)
    async with await psycopg.AsyncConnection.connect(database_url) as holder, holder.transaction():
        await holder.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
        stuck = asyncio.ensure_future(api.http.post(PROGRAMMES, json=template(), headers=keyed(api, "lapse")))
        await _claimed(database_url, "lapse")
        lapsing = await _claim(database_url, "lapse")
        await asyncio.sleep(1.5)  # the claim lapses: the request sent again takes it over and runs
        retried = asyncio.ensure_future(api.http.post(PROGRAMMES, json=template(), headers=keyed(api, "lapse")))
        await _claimed(database_url, "lapse", other_than=lapsing)
    # Both ran, and the store recorded the version once (its append is keyed too); the answer kept is the one
    # of the request holding the claim when it answered.
    answers = await asyncio.gather(stuck, retried)
    assert [r.status_code for r in answers] == [201, 201], [r.text for r in answers]
    assert await versions_recorded(store) == 1
    kept = await api.http.post(PROGRAMMES, json=template(), headers=keyed(api, "lapse"))
    assert (kept.status_code, kept.json(), kept.headers["Idempotent-Replayed"]) == (201, answers[1].json(), "true")


async def _claim(database_url: str, key: str) -> object:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute("SELECT claim FROM api_idempotency_keys WHERE key = %s", (key,))
        found = await cur.fetchone()
    return None if found is None else found[0]


async def _claimed(database_url: str, key: str, other_than: object = None) -> None:
    """Until a request holds a claim on ``key`` (one other than ``other_than``)."""
    for _ in range(200):
        found = await _claim(database_url, key)
        if found is not None and found != other_than:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no request claimed {key}")
