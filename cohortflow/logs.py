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


class _ServiceHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler configure_logging puts on the root logger: a second call replaces it, and only it (a test
    runner's or an embedding program's handlers stay)."""


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
    handler = _ServiceHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tracebacks, renderer],
        )
    )
    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, _ServiceHandler)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(max(numeric, logging.WARNING))
    # A library's warning (a deprecation, say) is a log line like any other, JSON when JSON is chosen.
    logging.captureWarnings(True)
    # uvicorn is run with log_config=None, so its loggers have no handlers of their own and reach this one.
    for name in VERBOSE_LIBRARIES:
        logging.getLogger(name).setLevel(numeric)
