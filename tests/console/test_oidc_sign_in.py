"""Signing in to the console through an OpenID Connect provider, in Chromium: a real provider (oidc-provider-mock,
a Flask app) served on 127.0.0.1 by the test. A person whose name there is a console account's signs in as that
account; a name with no enabled account, and an answer whose state is not this browser's, are refused and no session
is made. Unconfigured, the console offers no such sign-in and its routes do not exist."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast
from urllib.parse import parse_qs, urlsplit

import pytest
import werkzeug.serving
from jinja2 import ChoiceLoader, DictLoader
from oidc_provider_mock import User, app
from pydantic import SecretStr
from temporalio.client import Client

from cohortflow.access.accounts import disable_account
from cohortflow.console.language import gettext_for
from cohortflow.console.oidc import KEY_FILE, state_cookie_key
from cohortflow.settings import Settings
from cohortflow.store.eventstore import EventStore
from tests.console.conftest import Console, serving

PROVIDER_NAME = "湖南省统一身份认证"
PEOPLE = [
    User(sub="8f14e45f", claims={"preferred_username": "coordinator", "name": "王协调"}),
    User(sub="c9f0f895", claims={"preferred_username": "zhao", "name": "赵无账号"}),
    User(sub="45c48cce", claims={"preferred_username": "changsha", "name": "长沙已停用"}),
]
# The provider's pages take their style from a CDN; without it they ask nothing of any host but the provider's own.
PLAIN_PAGE = "<!doctype html><html><main>{% block content %}{% endblock %}</main></html>"


@contextmanager
def provider() -> Iterator[str]:
    """The provider on a free port of 127.0.0.1 (its nonce required), its issuer address given."""
    served = app(require_nonce=True, user_claims=PEOPLE)
    served.jinja_loader = ChoiceLoader([DictLoader({"_base.html": PLAIN_PAGE}), served.jinja_loader])
    server = werkzeug.serving.make_server("127.0.0.1", 0, served, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture
async def signing_in(database_url: str, store: EventStore, tmp_path: Path) -> AsyncIterator[tuple[Console, str]]:
    """The console configured to sign in through the provider, and the provider's address."""
    with provider() as issuer:
        configured = {
            "oidc_issuer": issuer,
            "oidc_client_id": "cohortflow-console",
            "oidc_client_secret": SecretStr("a secret the provider shares"),
            "oidc_display_name": PROVIDER_NAME,
        }
        async with serving(database_url, store, cast(Client, object()), tmp_path, configured=configured) as served:
            yield served, issuer


async def sessions(console: Console) -> list[tuple[str, str]]:
    async with console.store.pool.connection() as conn:
        cur = await conn.execute("SELECT account, signed_in_by FROM console_sessions ORDER BY account")
        return [(account, by) for account, by in await cur.fetchall()]


async def test_a_person_signs_in_through_the_provider_as_the_account_of_their_name(
    signing_in: tuple[Console, str],
) -> None:
    console, issuer = signing_in
    page = await console.page()
    await page.goto(f"{console.address}/console/sign-in")
    assert await page.text_content("#oidc") == f"通过{PROVIDER_NAME}登录"
    assert await page.is_visible("#submit")  # the password form beside it
    await page.click("#oidc")
    await page.wait_for_url(f"{issuer}/oauth2/authorize?*")
    asked = parse_qs(urlsplit(page.url).query)
    assert asked["code_challenge_method"] == ["S256"] and len(asked["code_challenge"][0]) == 43  # PKCE
    assert asked["client_id"] == ["cohortflow-console"] and asked["scope"] == ["openid profile"]
    assert asked["state"][0] and asked["nonce"][0]
    assert asked["redirect_uri"] == [f"{console.address}/console/oidc/callback"]

    await page.click("button[name=sub][value='8f14e45f']")  # the provider's person whose name is an account's
    await page.wait_for_url(f"{console.address}/console/dashboard")
    who = await page.text_content("#who") or ""
    assert who.startswith("coordinator · ") and gettext_for("zh")("coordinator") in who
    assert await sessions(console) == [("coordinator", "oidc")]
    await console.signed_in("admin")  # the password still signs in
    assert await sessions(console) == [("admin", "password"), ("coordinator", "oidc")]
    cookies = {c["name"] for c in await page.context.cookies(console.address)}
    assert "cf_oidc" not in cookies  # the sign-in's state is gone with its answer
    assert all(url.startswith((console.address, issuer)) for url in console.requested)


async def test_a_name_without_an_enabled_account_and_a_foreign_state_are_refused(
    signing_in: tuple[Console, str],
) -> None:
    console, issuer = signing_in
    await disable_account(console.store.pool, "changsha", disabled_by="admin")
    for sub, name in [("c9f0f895", "zhao"), ("45c48cce", "changsha")]:
        page = await console.page()
        await page.goto(f"{console.address}/console/sign-in")
        await page.click("#oidc")
        await page.wait_for_url(f"{issuer}/oauth2/authorize?*")
        await page.click(f"button[name=sub][value='{sub}']")
        await page.wait_for_url(f"{console.address}/console/oidc/callback?*")
        problem = await page.text_content("#problem")
        assert problem == f"统一身份认证确认您为“{name}”，但没有该名称的可用控制台账号；控制台账号由管理员创建。"
        assert await page.is_visible("#submit")  # the password form is offered instead

    started = await console.page()
    await started.goto(f"{console.address}/console/oidc/sign-in")
    await started.wait_for_url(f"{issuer}/oauth2/authorize?*")
    state = parse_qs(urlsplit(started.url).query)["state"][0]
    callback = f"{console.address}/console/oidc/callback"
    elsewhere = await console.page()  # another browser, without the cookie the sign-in set
    for page, query in [
        (started, "code=forged&state=forged"),  # a state this browser was not given
        (started, "code=forged"),  # none
        (elsewhere, f"code=forged&state={state}"),  # another browser's
    ]:
        answer = await page.goto(f"{callback}?{query}")
        assert answer is not None and answer.status == 400
        assert await page.text_content("#problem") == "通过统一身份认证登录未成功，请重试。"
    assert await sessions(console) == []
    assert all(url.startswith((console.address, issuer)) for url in console.requested)


async def test_unconfigured_the_console_offers_no_provider_and_has_no_callback(console: Console) -> None:
    page = await console.page()
    await page.goto(f"{console.address}/console/sign-in")
    assert await page.locator("#oidc").count() == 0
    for path in ["/console/oidc/sign-in", "/console/oidc/callback?code=x&state=y"]:
        answer = await page.request.get(f"{console.address}{path}", max_redirects=0)
        assert answer.status == 404


def test_the_state_cookie_is_signed_with_the_setting_or_a_key_made_once_in_the_state_directory(tmp_path: Path) -> None:
    kept = state_cookie_key(Settings(state_dir=tmp_path / "state"))
    assert len(kept) >= 32 and state_cookie_key(Settings(state_dir=tmp_path / "state")) == kept  # made once
    assert (tmp_path / "state" / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert [p.name for p in (tmp_path / "state").iterdir()] == [KEY_FILE]
    assert state_cookie_key(Settings(state_dir=tmp_path / "other")) != kept
    given = "k" * 40
    assert state_cookie_key(Settings(state_dir=tmp_path / "state", console_secret_key=SecretStr(given))) == given
