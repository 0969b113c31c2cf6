"""Texts the libraries under the API say, which the API passes on to its readers and the catalogue says in Chinese.

An error answer's title is its status's phrase (Python's ``HTTPStatus``), and a field FastAPI could
not take carries pydantic's message (``msg``). Neither is made by :func:`~cohortflow.domain.phrases.phrase`,
so their templates are listed here, written as the libraries write them, with pydantic's context
values as blanks.
"""

from __future__ import annotations

from http import HTTPStatus

STATUS_PHRASES: tuple[str, ...] = tuple(s.phrase for s in HTTPStatus if 400 <= s.value < 600)

PYDANTIC: tuple[str, ...] = (
    "Field required",
    "Extra inputs are not permitted",
    "Input should be a valid string",
    "Input should be a valid integer",
    "Input should be a valid integer, unable to parse string as an integer",
    "Input should be a valid integer, got a number with a fractional part",
    "Input should be a valid number",
    "Input should be a valid number, unable to parse string as a number",
    "Input should be a valid boolean",
    "Input should be a valid boolean, unable to interpret input",
    "Input should be a valid list",
    "Input should be a valid dictionary",
    "Input should be a valid dictionary or object to extract fields from",
    "Input should be a valid date",
    "Input should be a valid date or datetime, {reason}",
    "Input should be a valid date in the format YYYY-MM-DD, {reason}",
    "Input should be a valid datetime, {reason}",
    "Input should be {expected}",
    "Input should be greater than {gt}",
    "Input should be greater than or equal to {ge}",
    "Input should be less than {lt}",
    "Input should be less than or equal to {le}",
    "String should have at least {min_length} character",
    "String should have at least {min_length} characters",
    "String should have at most {max_length} character",
    "String should have at most {max_length} characters",
    "List should have at least {min_length} item after validation, not {actual_length}",
    "List should have at most {max_length} items after validation, not {actual_length}",
    "String should match pattern '{pattern}'",
    "JSON decode error",
    "Value error, {error}",
)
"""pydantic's messages for the field problems a request to the API can have."""

LIBRARY_PHRASES: tuple[str, ...] = STATUS_PHRASES + PYDANTIC
