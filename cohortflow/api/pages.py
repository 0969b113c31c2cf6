"""Pages of a list: ``limit`` items after an opaque ``cursor``, the next page linked from the answer.

A list answers at most ``limit`` items (100 unless asked, at most 1,000) in its own
order, and when there may be more, a ``Link: <…?cursor=…>; rel="next"`` header
(RFC 8288) gives the address of the next page. The body stays the list itself. The
cursor is the last item's sort key, as URL-safe base64 of JSON: the next page starts
after that key (keyset paging), so items added meanwhile neither repeat nor shift
the pages. A cursor, a limit or a filter the list cannot take is refused 400 with the reason
(a parameter's type or range by the app's one answer to them, ``errors``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Query, Request, Response

from cohortflow.domain.phrases import phrase

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
NEXT_LINK = {
    "Link": {
        "description": 'The next page, `<ADDRESS>; rel="next"`, when there may be more items',
        "schema": {"type": "string"},
    }
}
"""The header a paged list's answer may carry, for ``responses={200: {"headers": NEXT_LINK}}``."""

Key = tuple[str | int, ...]
Item = TypeVar("Item")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def microseconds(at: datetime) -> int:
    """A time in a cursor: whole microseconds since 1970, exact both ways (text would need one format)."""
    return (at - EPOCH) // timedelta(microseconds=1)


def instant(since_epoch: str | int) -> datetime:
    """The time a cursor's :func:`microseconds` stand for."""
    return EPOCH + timedelta(microseconds=int(since_epoch))


def bad_request(reason: str) -> HTTPException:
    """A list's parameter (cursor, limit, filter) it cannot take: 400 with the reason."""
    return HTTPException(400, detail=reason)


def encode(key: Key) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), ensure_ascii=False).encode()).decode().rstrip("=")


def _decode(cursor: str) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise bad_request(phrase("the cursor is not one a page of this list gave (it is not readable)")) from exc
    if not isinstance(key, list) or not all(isinstance(part, str | int) for part in key):
        raise bad_request(phrase("the cursor is not one a page of this list gave"))
    return key


@dataclass(frozen=True)
class Page:
    """Which page a request asks for: ``limit`` items after the cursor's key (from the first item if none)."""

    request: Request
    response: Response
    limit: int
    cursor: str | None

    def after(self, *types: type) -> Key | None:
        """The cursor's key, checked to hold one value of each of ``types`` (the list's sort key)."""
        if self.cursor is None:
            return None
        key = _decode(self.cursor)
        if len(key) != len(types) or not all(type(part) is kind for part, kind in zip(key, types, strict=True)):
            raise bad_request(phrase("the cursor is not one a page of this list gave (it belongs to another list)"))
        return tuple(key)

    def answer(self, fetched: Sequence[Item], key: Callable[[Item], Key]) -> list[Item]:
        """The page of ``fetched`` (up to ``limit + 1`` items, in order, after the cursor), linking the next page
        when ``fetched`` held more than a page."""
        items = list(fetched[: self.limit])
        if len(fetched) > self.limit:
            following = self.request.url.include_query_params(cursor=encode(key(items[-1])), limit=self.limit)
            self.response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
        return items

    def of(self, items: Iterable[Item], key: Callable[[Item], Key], *types: type) -> list[Item]:
        """The page of ``items``, a whole list in memory sorted by ``key`` (lists that are short anyway)."""
        after = self.after(*types)
        return self.answer([item for item in items if after is None or key(item) > after][: self.limit + 1], key)


def page(
    request: Request,
    response: Response,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_LIMIT,
            description=f"How many items at most ({DEFAULT_LIMIT} unless asked, at most {MAX_LIMIT:,})",
        ),
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(description='Where the page starts: the cursor in the previous page\'s `Link: rel="next"`')
    ] = None,
) -> Page:
    return Page(request, response, limit, cursor)


Paged = Annotated[Page, Depends(page)]
