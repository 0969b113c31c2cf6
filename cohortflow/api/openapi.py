"""The OpenAPI document's contract beyond what FastAPI writes: readable operation ids and every error answer.

Each operation lists the errors it can give, all as problems (``cohortflow.api.problems``),
each with an example: those every request may get (400 for a malformed address, 503 during
an outage), those its shape implies (404 with a path parameter, 413 with a body, 422 with
any input), and those its route declares (``responses=answers(409, 415)``). The token
check's 401, 403 and 429 are written by ``auth.document_permissions``. FastAPI's own 422
answer (its ``HTTPValidationError`` body) is replaced: the app answers a problem instead. An
answer whose body a route declares with a model of its own keeps it (the readiness probe's
503 is its report, not a problem).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.routing import APIRoute

from cohortflow.api.idempotency import KEY_HEADER
from cohortflow.api.problems import answer, schemas

EVERY_REQUEST = (400, 503)
"""What any operation may answer: the guards' refusal of a malformed address, and an outage."""
FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
FASTAPI_DESCRIPTION = "Validation Error"
SAMPLES = {
    "cohort_id": "2024-hn",
    "participant_id": "P000001",
    "programme_id": "guopei-party-secretary",
    "code": "4KPZ-Q9J5-ETVP-9T8N",
}
"""Path parameters as the examples show them; any other is shown as ``1``."""


def _sample_path(template: str) -> str:
    return re.sub(r"\{([^}]+)\}", lambda found: SAMPLES.get(found.group(1), "1"), template)


def operation_id(route: APIRoute) -> str:
    """``cohorts-close-phase``: the route's first tag and its function's name, as words joined by hyphens."""
    tag = route.tags[0] if route.tags else "service"
    return re.sub(r"[^a-z0-9]+", "-", f"{tag} {route.name}".lower()).strip("-")


def _own_body(response: dict[str, Any]) -> bool:
    """Whether a route declared the body of this answer itself (a model of its own, such as a probe's report)."""
    schemas = [media.get("schema", {}) for media in response.get("content", {}).values()]
    return any(schema and not schema.get("$ref", "").endswith(FASTAPI_VALIDATION) for schema in schemas)


def _errors_of(operation: dict[str, Any]) -> set[int]:
    implied = set(EVERY_REQUEST)
    parameters = operation.get("parameters", [])
    if any(p.get("in") == "path" for p in parameters):
        implied.add(404)
    if "requestBody" in operation:
        implied.add(413)
    if parameters or "requestBody" in operation:
        implied.add(422)
    declared = {int(code) for code in operation.get("responses", {}) if code.isdigit() and int(code) >= 400}
    return implied | declared


def document_errors(document: dict[str, Any]) -> None:
    """Give every operation in ``document`` its error answers as problems, and the problem schemas."""
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            keyed = any(
                p.get("in") == "header" and p.get("name") == KEY_HEADER for p in operation.get("parameters", [])
            )
            for status in sorted(_errors_of(operation)):
                stated = responses.get(str(status), {})
                described = answer(status, _sample_path(path), keyed=keyed)
                if stated.get("description") not in (None, FASTAPI_DESCRIPTION):  # a route's own words say more
                    described["description"] = stated["description"]
                if _own_body(stated):
                    described["content"] = stated["content"]
                responses[str(status)] = described
    components: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in FASTAPI_VALIDATION:
        components.pop(unused, None)
    components.update(schemas())
