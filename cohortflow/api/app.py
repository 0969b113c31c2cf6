"""The HTTP API's app factory. Thin: it reads models and forwards commands.

Every route but the health probes (``/api/v1/health[/live|/ready]``) needs a
bearer token (``cohortflow token issue``); the token's role decides what it may
do, and its holder becomes the actor recorded in the metadata of every event the request causes. The OpenAPI
document names each operation's permission (``x-permission``, or ``public``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline
from starlette.routing import BaseRoute
from temporalio.client import Client

from cohortflow.access.roles import Permission, Principal
from cohortflow.api import errors
from cohortflow.api.audit import router as audit_router
from cohortflow.api.auth import document_permissions, require
from cohortflow.api.certificates import router as certificates_router
from cohortflow.api.cohorts import router as cohorts_router
from cohortflow.api.commands import router as commands_router
from cohortflow.api.credit_bank import router as credit_bank_router
from cohortflow.api.guards import RequestGuard
from cohortflow.api.health import router as health_router
from cohortflow.api.imports import router as imports_router
from cohortflow.api.language import AcceptLanguage
from cohortflow.api.metrics import router as metrics_router
from cohortflow.api.openapi import document_errors, operation_id
from cohortflow.api.people import router as people_router
from cohortflow.api.plans import router as plans_router
from cohortflow.api.programmes import router as programmes_router
from cohortflow.api.reads import router as reads_router
from cohortflow.api.reminders import router as reminders_router
from cohortflow.api.request_ids import install_request_ids
from cohortflow.api.request_metrics import RequestMetrics
from cohortflow.api.reviews import router as reviews_router
from cohortflow.api.standing_reports import router as standing_reports_router
from cohortflow.console.app import install as install_console
from cohortflow.domain.phrases import phrase
from cohortflow.observability.service_metrics import ServiceMetrics
from cohortflow.observability.temporal_runtime import temporal_runtime
from cohortflow.observability.tracing import configured_provider, trace_requests
from cohortflow.readmodels.cohort_summary import CohortSummary, cohort_summary
from cohortflow.readmodels.projector import Projector
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore
from cohortflow.worker import connect_client

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider


async def keep_projecting(app: FastAPI, projector: Projector, interval: float, stop: asyncio.Event) -> None:
    """Bring the read models up to the head of the log, again and again, until ``stop``; a failed pass is retried.

    ``app.state.projected_to`` says how far they are (whoever projected), so
    answers cached for that position can be served without asking the database.
    The loop ends on ``stop`` rather than on cancellation alone: a pass cancelled
    while the database pool reconnects can end without raising the cancellation.
    """
    log = structlog.get_logger()
    while not stop.is_set():
        try:
            await projector.catch_up()
            app.state.projected_to = await projector.checkpoint()
        except Exception:
            log.exception("projecting the read models failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


TEMPORAL_WAIT = 2.0
"""How long the API's calls to Temporal are retried before it answers 503 (the SDK alone would retry ~10 s)."""


def create_app(
    settings: Settings,
    database_url: str | None = None,
    *,
    temporal_address: str | None = None,
    temporal: Client | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """``temporal`` is an already connected client (tests, ``cohortflow up``); else one connects at startup.

    Requests are traced to ``tracer_provider``, else to the configured OTLP endpoint, if any; an already
    connected client brings its own tracing."""
    url = database_url or settings.database_url
    if url is None:
        raise ValueError(phrase("the API needs DATABASE_URL (or run it through `cohortflow up`)"))
    address = temporal_address or settings.temporal_address
    if temporal is None and address is None:
        raise ValueError(phrase("the API needs TEMPORAL_ADDRESS (or run it through `cohortflow up`)"))
    tracing = tracer_provider or configured_provider(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = await EventStore.connect(
            url, max_size=settings.api_pool_size, wait=settings.api_database_wait
        )
        app.state.temporal = temporal or await connect_client(
            address or "",
            settings.temporal_namespace,
            answer_within=TEMPORAL_WAIT,
            runtime=temporal_runtime(),
            tracer_provider=tracing,
        )
        app.state.projector = Projector(app.state.store)
        app.state.projected_to = -1
        app.state.funnels = {}
        stop = asyncio.Event()
        projecting = asyncio.create_task(keep_projecting(app, app.state.projector, settings.projection_interval, stop))
        try:
            yield
        finally:
            stop.set()
            projecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await projecting
            await app.state.store.close()

    # The docs pages' scripts and styles come from fastapi-offline's copy, served here: no CDN is asked. Swagger
    # UI would also send the document to validator.swagger.io for a badge; validatorUrl None turns that off.
    app = FastAPIOffline(
        title="cohortflow",
        version="0.2.0",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.settings = settings
    app.state.metrics = ServiceMetrics()
    app.add_middleware(RequestGuard, body_limit=settings.max_body_bytes, upload_limit=settings.max_upload_bytes)
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)  # outside the guard: its refusals count too
    app.add_middleware(AcceptLanguage)  # outside the guard: its refusals are said in the reader's language too
    install_request_ids(app)  # added last: the outermost
    if tracing is not None:
        trace_requests(app, tracing)
    errors.install(app)
    cohort_routes: list[BaseRoute] = []
    routers = (programmes_router, cohorts_router, plans_router, reads_router, imports_router, audit_router)
    bank = (people_router, credit_bank_router, standing_reports_router, reviews_router, certificates_router)
    for router in (*routers, *bank, reminders_router, commands_router, metrics_router, health_router):
        before = len(app.routes)
        app.include_router(router)
        if router in (cohorts_router, reads_router):
            cohort_routes += app.routes[before:]

    @app.get("/api/v1/cohorts/{cohort_id}/summary", tags=["cohorts"])
    async def summary(
        cohort_id: str, request: Request, _: Annotated[Principal, Depends(require(Permission.AUDIT_READ))]
    ) -> CohortSummary:
        """The cohort's summary computed from its whole stream (slow on big cohorts; the funnel is the fast read)."""
        return await cohort_summary(request.app.state.store, cohort_id)

    match_first(app, cohort_routes)
    install_console(app)
    return app


def match_first(app: FastAPI, busiest: list[BaseRoute]) -> None:
    """Try ``busiest`` first when matching a request, keeping the OpenAPI document in the declared order.

    FastAPI tries the routes in turn, at several microseconds each, and the read routes
    are asked far more often than all the others. They go first with the cohort
    commands, in their declared order: those share ``/api/v1/cohorts`` with them, and the
    first route matching a path by another method decides a 405's ``Allow`` header. No
    route moved ahead matches any request of the routes it passes, so every request is
    answered by the same route as before; only the cost changes. The document is built
    from the routes as declared, as FastAPI would have built it.
    """
    declared = list(app.routes)
    app.router.routes[:] = [*busiest, *(route for route in declared if all(route is not b for b in busiest))]

    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            added = [route for route in app.routes if all(route is not d for d in declared)]
            routes = [*declared, *added]
            document = get_openapi(title=app.title, version=app.version, routes=routes)
            document_permissions(document, routes)
            document_errors(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # as FastAPI's guide to extending OpenAPI does
