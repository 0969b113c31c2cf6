"""Signing in to the console through the province's OpenID Connect provider, when configured (COHORTFLOW_OIDC_*).

Authlib's Starlette client does the protocol: the authorization-code flow with PKCE (S256), a random ``state`` and
``nonce``, the provider's discovery document and keys read over httpx, and the ID token's signature, issuer,
audience, expiry and nonce checked. The provider only vouches for a name (``COHORTFLOW_OIDC_ACCOUNT_CLAIM``): the
person signs in as the existing, enabled console account of that name, with its role and unit. Nothing is created
here; a name with no such account is refused and logged.

Between the redirect to the provider and its answer, Authlib keeps the state, nonce and PKCE verifier in
``request.session``. Starlette's SessionMiddleware provides it as a cookie signed with itsdangerous: nothing is
stored on the server, so any API replica can take the answer. It is scoped narrowly: installed only when the
provider is configured, its cookie sent only to ``/console/oidc`` and good for ten minutes.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import httpx
import structlog
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.starlette_client import OAuth
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from joserfc.errors import JoseError
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware

from cohortflow.access.accounts import enabled_account, start_session
from cohortflow.console.rendering import say
from cohortflow.console.sign_in import client_address, session_lifetime, sign_in_form, signed_in
from cohortflow.settings import Settings

PREFIX = "/console/oidc"
STATE_COOKIE = "cf_oidc"
STATE_SECONDS = 600
"""How long a sign-in may stay at the provider before its answer is refused (the signed cookie's age)."""
KEY_FILE = "console-secret-key"
PROVIDER = "province"

router = APIRouter(prefix=PREFIX, include_in_schema=False)
log = structlog.get_logger("cohortflow.console")


def state_cookie_key(settings: Settings) -> str:
    """The key signing the state cookie: COHORTFLOW_CONSOLE_SECRET_KEY, else one made once in the state directory.

    Never a constant: whoever knew it could forge the cookie. Every API process must use the same key (the answer
    may reach another replica), so a deployment of several replicas without a shared state directory sets it."""
    if settings.console_secret_key is not None:
        return settings.console_secret_key.get_secret_value()
    path = settings.state_dir / KEY_FILE
    try:
        if not path.exists():
            _make_key(path)
        key = path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise RuntimeError(f"cannot keep a key in {path} ({exc}); set COHORTFLOW_CONSOLE_SECRET_KEY") from exc
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable key; delete it or set COHORTFLOW_CONSOLE_SECRET_KEY")
    return key


def _make_key(path: Path) -> None:
    """Write a new key readable by its owner only; linked into place, so two processes starting at once share one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="ascii") as made:
        made.write(secrets.token_urlsafe(48))
    try:
        os.link(draft, path)
    except FileExistsError:
        pass  # another process made it first: its key is the one
    finally:
        draft.unlink()


def install(app: FastAPI, settings: Settings) -> None:
    """Add the provider's routes and the state cookie, if the provider is configured; otherwise nothing (404)."""
    if settings.oidc_issuer is None or settings.oidc_client_id is None or settings.oidc_client_secret is None:
        return
    oauth = OAuth()
    oauth.register(
        PROVIDER,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value(),
        server_metadata_url=f"{settings.oidc_issuer.rstrip('/')}/.well-known/openid-configuration",
        client_kwargs={"scope": settings.oidc_scope, "code_challenge_method": "S256"},
    )
    app.state.oidc = oauth.create_client(PROVIDER)
    # Innermost of the app's middleware (appended, where add_middleware would put it outermost): the request ids,
    # the request guard and the metrics stay outside it, as they were.
    app.user_middleware.append(
        Middleware(
            SessionMiddleware,
            secret_key=state_cookie_key(settings),
            session_cookie=STATE_COOKIE,
            max_age=STATE_SECONDS,
            path=PREFIX,
            same_site="lax",  # sent with the provider's redirect back, a top-level GET from its site
            # Not marked Secure: the middleware cannot follow each request's scheme as the session cookie does, and
            # a console served over plain HTTP must still sign in. It holds no credential, only this sign-in's state.
        )
    )
    app.include_router(router)


@router.get("/sign-in", name="oidc_sign_in")
async def oidc_sign_in(request: Request) -> Response:
    """Send the browser to the provider, its state, nonce and PKCE verifier kept in the signed cookie."""
    try:
        redirect: Response = await request.app.state.oidc.authorize_redirect(request, request.url_for("oidc_callback"))
    except (httpx.HTTPError, ValueError) as exc:  # the discovery document unreachable or not JSON
        log.warning("identity provider unreachable", client=client_address(request), reason=str(exc))
        problem = say(request, "The identity provider could not be reached; try again later, or use your password.")
        return sign_in_form(request, problem, status_code=502)
    return redirect


@router.get("/callback", name="oidc_callback")
async def oidc_callback(request: Request) -> Response:
    """The provider's answer: its state must be the one this browser's cookie holds (Authlib checks), the code is
    exchanged for tokens with the PKCE verifier, and the ID token checked before its account claim is believed."""
    settings: Settings = request.app.state.settings
    client: Any = request.app.state.oidc
    address = client_address(request)
    try:
        token = await client.authorize_access_token(
            request,
            claims_options={  # the issuer configured (Authlib would take the discovery document's) and this client
                "iss": {"essential": True, "value": settings.oidc_issuer},
                "aud": {"essential": True, "value": settings.oidc_client_id},
            },
        )
    except (AuthlibBaseError, JoseError, httpx.HTTPError, KeyError, ValueError) as exc:
        log.warning("console sign-in through the identity provider refused", client=address, reason=repr(exc))
        problem = say(request, "Signing in through the identity provider did not succeed; please try again.")
        return sign_in_form(request, problem, status_code=400)
    claims = token.get("userinfo") or {}
    name = claims.get(settings.oidc_account_claim)
    subject = claims.get("sub")
    if not isinstance(name, str) or not name:
        log.warning(
            "console sign-in through the identity provider refused",
            client=address,
            subject=subject,
            reason=f"the ID token has no {settings.oidc_account_claim}",
        )
        problem = say(request, "The identity provider did not say which account you are.")
        return sign_in_form(request, problem, status_code=403)
    principal, why = await enabled_account(request.app.state.store.pool, name)
    if principal is None:
        log.warning(
            "console sign-in through the identity provider refused",
            client=address,
            account=name,
            subject=subject,
            reason=why,
        )
        problem = say(request, "You are {name} to the identity provider; no enabled console account has that name.")
        return sign_in_form(request, problem.format(name=name), status_code=403)
    value, _session = await start_session(request.app.state.store.pool, principal, session_lifetime(request), "oidc")
    log.info("console sign-in", client=address, account=name, role=principal.role, by="oidc", subject=subject)
    return signed_in(request, value)
