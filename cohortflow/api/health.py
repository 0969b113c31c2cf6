"""Health probes, open to anyone: liveness (the process answers) and readiness (its dependencies do).

``/api/v1/health`` answers as it always has (the database's head), for the
clients and checks that use it.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from cohortflow.api.auth import public
from cohortflow.observability.readiness import failed, readiness

router = APIRouter(prefix="/api/v1/health", tags=["service"], dependencies=[Depends(public)])


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str]
    """postgres, temporal, worker: ``ok``, ``not checked: …`` or why it failed."""
    failed: list[str]


@router.get("")
async def health(request: Request) -> dict[str, object]:
    """The event log's head: the database answers."""
    head = await request.app.state.store.head()
    return {"status": "ok", "head_position": head.position, "head_digest": head.hash}


@router.get("/live")
async def live() -> dict[str, str]:
    """The process answers; nothing else is checked (a restart would not mend a dependency)."""
    return {"status": "ok"}


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness, "description": "not ready"}})
async def ready(request: Request) -> JSONResponse:
    """PostgreSQL and Temporal answer and a worker polls the task queue; 503 naming what failed if not."""
    state = request.app.state
    checks = await readiness(state.store, state.temporal, state.settings.task_queue)
    problems = failed(checks)
    body = Readiness(status="not ready" if problems else "ready", checks=checks, failed=problems)
    return JSONResponse(status_code=503 if problems else 200, content=body.model_dump())
