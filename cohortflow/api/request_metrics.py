"""Counts every request and its latency by route template and status (``ServiceMetrics``).

A pure ASGI middleware reading the route Starlette's router already matched
(``scope["route"]``, left in the shared scope), rather than a library such as
prometheus-fastapi-instrumentator, which matches every request against the
routes a second time to name it: the read routes' cost is measured in
microseconds of routing (see ``app.match_first``).
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cohortflow.observability.service_metrics import UNMATCHED, ServiceMetrics


class RequestMetrics:
    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the server answers when the app raises before it starts an answer

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", UNMATCHED)
            self.metrics.request_answered(scope["method"], route, status, time.perf_counter() - started)
