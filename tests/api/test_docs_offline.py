"""The interactive docs (/docs, /redoc) work offline: every asset they load is served by the app itself."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import cast

import httpx
import pytest
from temporalio.client import Client

from cohortflow.api.app import create_app
from cohortflow.settings import Settings

REFERENCE = re.compile(r"""(?:src|href|spec-url)="([^"]*)"|url: '([^']*)'""")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The app without its store and Temporal: the docs and their assets need neither."""
    app = create_app(Settings(), "postgresql://nowhere/none", temporal=cast(Client, object()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cohortflow.test") as http:
        yield http


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_page_loads_only_from_its_own_origin(http: httpx.AsyncClient, page: str) -> None:
    answer = await http.get(page)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert "//" not in re.sub(r"<!--.*?-->", "", html, flags=re.S).replace("window.location.origin", ""), html
    references = [found for pair in REFERENCE.findall(html) for found in pair if found]
    assert "/openapi.json" in references and any(ref.endswith(".js") for ref in references), references
    for reference in references:
        assert reference.startswith("/") and not reference.startswith("//"), reference
        loaded = await http.get(reference)
        assert loaded.status_code == 200, reference
        assert loaded.content, reference


async def test_swagger_ui_does_not_send_the_document_to_an_online_validator(http: httpx.AsyncClient) -> None:
    assert '"validatorUrl": null' in (await http.get("/docs")).text
