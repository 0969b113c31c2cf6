"""structlog set-up: JSON lines in production, readable lines at a terminal.

Other libraries (uvicorn, temporalio, alembic, httpx, …) log through the
standard library; their records are rendered by structlog's
``ProcessorFormatter`` with the same processors, so with ``json`` every line
on stderr is one JSON object, whoever wrote it.
"""

from __future__ import annotations

import logging
import sys

import structlog
from asgi_correlation_id.context import correlation_id

# Libraries whose records are shown at the chosen level; all others only from WARNING, as their INFO is noise.
VERBOSE_LIBRARIES = ("uvicorn", "uvicorn.access", "uvicorn.error")


def add_request_id(_: object, __: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """The id of the HTTP request being answered (``cohortflow.api.request_ids``), on every line it causes."""
    request_id = correlation_id.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


def configure_logging(fmt: str = "console", level: str = "info") -> None:
    json_lines = fmt == "json"
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        add_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # JSON cannot hold a traceback object: it becomes a string field. The console renderer prints it itself.
    tracebacks: list[structlog.typing.Processor] = [structlog.processors.format_exc_info] if json_lines else []
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[*shared, *tracebacks, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tracebacks, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.WARNING))
    for name in VERBOSE_LIBRARIES:
        library = logging.getLogger(name)
        library.handlers.clear()  # uvicorn's own configuration, if it ran, would print its lines a second way
        library.propagate = True
        library.setLevel(numeric)
