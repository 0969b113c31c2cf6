"""The change between two versions of a programme as a table a reader can follow: each JSON Patch operation of
``services.programmes.diff`` with a readable path and the value before and after it."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import jsonpatch
from jsonpointer import JsonPointer, JsonPointerException


@dataclass(frozen=True)
class Change:
    op: str
    path: str
    before: str
    after: str


NOTHING = "—"
OPERATIONS = ("add", "remove", "replace", "move", "copy")
"""The operations a patch between two versions holds (``test`` only checks, and a diff makes none)."""


def changes(before: dict[str, Any], patch: list[dict[str, Any]]) -> list[Change]:
    """Each operation, the value it replaces read from the document as the earlier operations left it.

    The operations apply in order (RFC 6902), so a later one's path (an index in a list, after an earlier removal)
    names a place in the document as changed so far, not in the old version.
    """
    document = copy.deepcopy(before)
    found = []
    for op in patch:
        source = op.get("from", op["path"])
        old = _at(document, source) if op["op"] in ("replace", "remove", "move") else None
        new = op["value"] if "value" in op else _at(document, source)
        path = _readable(document, op["path"])
        if "from" in op:
            path = f"{_readable(document, op['from'])} → {path}"
        found.append(Change(op["op"], path, NOTHING if old is None else _text(old), _after(op["op"], new)))
        document = jsonpatch.apply_patch(document, [op])
    return found


def _after(op: str, value: Any) -> str:
    return NOTHING if op == "remove" or value is None else _text(value)


def _at(document: Any, pointer: str) -> Any:
    try:
        return JsonPointer(pointer).resolve(document)
    except JsonPointerException:
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _readable(document: Any, pointer: str) -> str:
    """``/stages/1/credits/hours`` as ``stages › placement › credits › hours``: an item of a list named by its
    code, as the template's authors name it, when it has one."""
    parts = []
    here = document
    for part in JsonPointer(pointer).parts:
        if isinstance(here, list) and part.isdigit() and int(part) < len(here):
            here = here[int(part)]
            parts.append(str(here["code"]) if isinstance(here, dict) and "code" in here else part)
        elif isinstance(here, dict) and part in here:
            here = here[part]
            parts.append(part)
        else:
            here = None
            parts.append(part)
    return " › ".join(parts)
