"""The real app, a real store and the time-skipping server, with one token per role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from cohortflow.access.roles import ROLES
from cohortflow.access.tokens import issue_token
from cohortflow.api.app import create_app
from cohortflow.demo.sample import sample_programme
from cohortflow.readmodels.projector import Projector
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore
from tests.access.units import unit_for
from tests.workflows.helpers import running_worker, terminate_cohorts

PROGRAMME = sample_programme(120, 20)
COORDINATED = PROGRAMME.prefectures[0].code


@dataclass
class Api:
    http: httpx.AsyncClient
    settings: Settings
    tokens: dict[str, str]
    projector: Projector

    async def caught_up(self) -> None:
        """Read models reflect everything recorded so far (the app also projects on its own, every interval)."""
        await self.projector.catch_up(wait=True)

    def as_(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
async def api(
    database_url: str, store: EventStore, time_skipping: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[Api]:
    settings = Settings(task_queue=task_queue, state_dir=tmp_path, max_upload_bytes=2_000_000)
    tokens: dict[str, str] = {
        role: (
            await issue_token(store.pool, name=f"{role}-1", role=role, issued_by="tests", **unit_for(role, COORDINATED))
        ).secret
        for role in ROLES
    }
    app = create_app(settings, database_url, temporal=time_skipping.client)
    async with (
        running_worker(time_skipping.client, store, task_queue, settings.uploads),
        app.router.lifespan_context(app),
    ):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=120) as http:
            yield Api(http, settings, tokens, app.state.projector)
        await terminate_cohorts(time_skipping.client, store)
