"""The HTTP API's app factory. Thin: it reads models and forwards commands."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request

from cohortflow.api.audit import router as audit_router
from cohortflow.readmodels.cohort_summary import CohortSummary, cohort_summary
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore


def create_app(settings: Settings, database_url: str | None = None) -> FastAPI:
    url = database_url or settings.database_url
    if url is None:
        raise ValueError("the API needs DATABASE_URL (or run it through `cohortflow up`)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = await EventStore.connect(url)
        try:
            yield
        finally:
            await app.state.store.close()

    app = FastAPI(title="cohortflow", version="0.1.0", lifespan=lifespan)
    app.include_router(audit_router)

    @app.get("/api/v1/health")
    async def health(request: Request) -> dict[str, object]:
        head = await request.app.state.store.head()
        return {"status": "ok", "head_position": head.position, "head_digest": head.hash}

    @app.get("/api/v1/cohorts/{cohort_id}/summary")
    async def summary(cohort_id: str, request: Request) -> CohortSummary:
        try:
            return await cohort_summary(request.app.state.store, cohort_id)
        except LookupError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None

    return app
