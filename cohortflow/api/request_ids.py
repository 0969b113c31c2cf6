"""X-Request-ID: every request has an id, returned in the answer and carried by every log line it causes.

``asgi-correlation-id`` does the work: it takes the caller's id (a proxy's or a
client's) when it passes ``acceptable``, or makes one (32 hex digits), keeps it
in a context variable for the request and sets it on the answer. The log
set-up (``cohortflow.logs``) reads that variable into each line's ``request_id``.
"""

from __future__ import annotations

import re

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI

HEADER = "X-Request-ID"
MAX_LENGTH = 64
# Letters, digits and . _ : - only: the id goes verbatim into log lines and headers, so nothing that could
# split a line, forge a field or smuggle a header is taken from the caller.
_SAFE = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_LENGTH}}}")


def acceptable(request_id: str) -> bool:
    """Whether a caller's id is used as it is; any other is replaced by a new one (and a warning logged)."""
    return _SAFE.fullmatch(request_id) is not None


def install_request_ids(app: FastAPI) -> None:
    """Outermost of the app's middleware, so that even a request refused before any route has its id."""
    app.add_middleware(CorrelationIdMiddleware, header_name=HEADER, validator=acceptable)
