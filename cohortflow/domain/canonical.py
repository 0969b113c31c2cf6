"""Canonical JSON: the one byte form used for hashing events and digesting inputs.

PostgreSQL's JSONB does not keep key order or the spelling of numbers, so a hash
must be taken over a form that survives a round trip through the database:
sorted keys, no whitespace, UTF-8 text, and integral floats written as integers
(JSONB returns ``1e16`` as ``10000000000000000``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

_PLAIN = frozenset({str, int, bool, type(None)})
_STR = frozenset({str})


def _normalise(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("NaN and infinity cannot be stored in an event")
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        if _PLAIN.issuperset(map(type, value.values())) and _STR.issuperset(map(type, value)):
            return value  # the common flat event payload: nothing to rewrite
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Serialise ``value`` to its canonical JSON text.

    The form is the standard library's ``json.dumps`` with sorted keys, no whitespace and UTF-8 text. A flat
    object of strings, integers, booleans and nulls (most events' payloads and every event's metadata) is written
    by orjson instead, seven times faster, to the same bytes: it escapes and orders keys as ``json.dumps`` does
    for these types (a test checks every code point). Floats keep the standard library's spelling (orjson writes
    ``1e-07`` as ``1e-7``); keys that are not strings and integers beyond 64 bits, which orjson refuses, are
    written by the standard library too.
    """
    if type(value) is dict and _PLAIN.issuperset(map(type, value.values())):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONEncodeError:  # a key that is not a string, or an integer beyond 64 bits
            pass
    return json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(value: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
