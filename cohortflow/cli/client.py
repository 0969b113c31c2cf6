"""The administrators' CLI as a client of the HTTP API (httpx, synchronous).

The CLI holds no database connection of its own: every admin command is a
request to ``/api/v1`` with the administrator's bearer token, so roles, checks
and the actor recorded in events are exactly the API's. Refusals come back as
:class:`Refused` with the problem the API answered (RFC 9457: its ``detail``,
and every problem it listed in ``problems``); an API that cannot be reached as
:class:`Unreachable`.

An answer of 503 or 429 says the API could not serve the request for now (its
database or Temporal out, too many requests) and did nothing: the request is
sent again after the ``Retry-After`` it gave, a few times, and each wait is
told to ``on_retry``. Sending any request of the CLI again changes nothing
twice: reads change nothing, and every POST carries an ``Idempotency-Key`` of
its own, the same on each of its attempts, so the API applies the command once
and answers an attempt after the first as it answered the first. (Even without
it, an import is keyed by its file's digest, a cohort or plan starts once under
its id, and a cohort refuses a command it has already applied.)
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from cohortflow.cli.messages import _, chosen

if TYPE_CHECKING:
    import httpx

URL_ENV = "COHORTFLOW_API_URL"
TOKEN_ENV = "COHORTFLOW_TOKEN"
DEFAULT_URL = "http://127.0.0.1:8000"
TIMEOUT: dict[str, float | None] = {"timeout": 60.0, "connect": 5.0}
"""Ordinary requests; uploads and downloads wait as long as the API works (``read=None``)."""
LONG: dict[str, float | None] = {**TIMEOUT, "read": None, "write": None}
CHUNK = 1 << 16
RETRIED = frozenset({429, 503})
RETRIES = 5
"""Attempts after the first; with the API's Retry-After of 5 s, about half a minute in all."""
LONGEST_WAIT = 30.0
PENDING_FOR = 15 * 60.0
"""How long the CLI follows a command answered 202 (accepted, not yet applied) before it leaves it be."""

Progress = Callable[[int], None]
"""Called with the number of bytes just sent or received."""
OnRetry = Callable[[str], None]
"""Told, before each wait, what the API answered and when the request goes again."""


def pause(seconds: float) -> None:
    """How a client waits before sending a request again."""
    time.sleep(seconds)


class ClientError(Exception):
    """Why a command could not get an answer from the API."""


class Refused(ClientError):
    """The API answered 4xx or 5xx: its ``detail``, its ``problems`` and the whole body."""

    def __init__(self, status: int, detail: str, problems: list[str], body: Any = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.problems = problems
        self.body = body

    @property
    def problem_count(self) -> int:
        """How many problems there are in all; the API may list only the first of them."""
        count = self.body.get("problem_count") if isinstance(self.body, dict) else None
        return max(count, len(self.problems)) if isinstance(count, int) else len(self.problems)

    @property
    def server_error(self) -> bool:
        return self.status >= 500


class Unreachable(ClientError):
    pass


def _problem_text(problem: Any) -> str:
    """A problem as one line; a request field's problem is an object with ``loc`` and ``msg``."""
    if isinstance(problem, dict) and "msg" in problem:
        where = ".".join(str(part) for part in problem.get("loc", ()))
        return f"{where}: {problem['msg']}" if where else str(problem["msg"])
    return str(problem)


def refusal(response: httpx.Response) -> Refused:
    """The refusal a 4xx/5xx response carries (its body must have been read).

    The API answers a problem (``detail``, else ``title``, and ``problems``); anything else
    in the way, such as a proxy's error page, is shown as its text or its status.
    """
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    detail: Any = None
    problems: list[Any] = []
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("title")
        if isinstance(body.get("problems"), list):
            problems = list(body["problems"])
    if not isinstance(detail, str) or not detail:
        text = body.strip() if isinstance(body, str) else ""
        detail = text or f"{response.status_code} {response.reason_phrase}".strip()
    return Refused(response.status_code, detail, [_problem_text(p) for p in problems], body)


def multipart_file(
    path: Path, content_type: str, field: str = "file", on_progress: Progress | None = None
) -> tuple[Iterator[bytes], dict[str, str]]:
    """A ``multipart/form-data`` body holding ``path`` as ``field``, streamed chunk by chunk, and its headers.

    The file is never read whole; ``on_progress`` is told of every chunk as it is sent.
    """
    boundary = secrets.token_hex(16)
    name = path.name.translate({ord('"'): "%22", ord("\\"): "\\\\", ord("\r"): "%0D", ord("\n"): "%0A"})
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = path.stat().st_size

    def body() -> Iterator[bytes]:
        yield head
        with path.open("rb") as source:
            while chunk := source.read(CHUNK):
                yield chunk
                if on_progress is not None:
                    on_progress(len(chunk))
        yield tail

    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + size + len(tail)),
    }
    return body(), headers


def _once() -> dict[str, str]:
    """A command's own ``Idempotency-Key``, sent with each of its attempts."""
    return {"Idempotency-Key": secrets.token_hex(16)}


class ApiClient:
    """A session with the API: ``with ApiClient() as api: api.get("/api/v1/programmes")``."""

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        on_retry: OnRetry | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        import httpx  # loaded with the first client, not with the CLI: `--help` starts sooner

        self.base_url = (base_url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
        self.token = token if token is not None else os.environ.get(TOKEN_ENV)
        headers: dict[str, str] = {"Accept-Language": chosen()}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self._on_retry = on_retry
        self._sleep = sleep or pause
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(**TIMEOUT),
            transport=transport,
            # An http:// API is never spoken to over TLS (redirects are not followed), so loading the CA
            # bundle for it would only slow every command's start; an https:// one is verified as usual.
            verify=self.base_url.startswith("https://"),
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @contextmanager
    def _reaching(self) -> Iterator[None]:
        import httpx

        try:
            yield
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            unreachable = _("cannot reach the API at {url} — is `cohortflow up` running?").format(url=self.base_url)
            raise Unreachable(unreachable) from exc
        except httpx.TransportError as exc:
            silent = _("the API at {url} did not answer: {error}")
            raise Unreachable(silent.format(url=self.base_url, error=exc or type(exc).__name__)) from exc

    @staticmethod
    def _long() -> httpx.Timeout:
        import httpx

        return httpx.Timeout(**LONG)

    def _wait(self, response: httpx.Response, attempt: int) -> bool:
        """Whether to send the request again after ``response``; if so, after waiting as long as it asked."""
        if response.status_code not in RETRIED or attempt > RETRIES:
            return False
        asked = response.headers.get("Retry-After", "")
        wait = min(float(asked), LONGEST_WAIT) if asked.isdigit() else 5.0
        if self._on_retry is not None:
            why = refusal(response).detail
            self._on_retry(
                f"the API cannot serve this now ({response.status_code}: {why}); "
                f"trying again in {wait:g} s ({attempt} of {RETRIES})"
            )
        self._sleep(wait)
        return True

    def _answer(self, send: Callable[[], httpx.Response]) -> httpx.Response:
        """``send()``'s response, sent again while the API asks to retry."""
        attempt = 1
        while True:
            with self._reaching():
                response = send()
            if not self._wait(response, attempt):
                return response
            attempt += 1

    def _send(self, send: Callable[[], httpx.Response]) -> httpx.Response:
        """``send()``'s response, sent again while the API asks to retry, and a command's outcome when it was
        answered 202 (accepted, not yet applied: the cohort's store or worker is out); :class:`Refused` for 4xx/5xx.
        """
        response = self._answer(send)
        if response.status_code == 202 and "Location" in response.headers:
            response = self._follow(response.headers["Location"])
        if response.is_error:
            raise refusal(response)
        return response

    def _follow(self, location: str) -> httpx.Response:
        """The outcome of a command the API accepted and has not yet applied, asked for until it is there."""
        if self._on_retry is not None:
            self._on_retry(f"the command is accepted and not yet applied; waiting for its outcome at {location}")
        deadline = time.monotonic() + PENDING_FOR
        while True:
            response = self._answer(lambda: self._http.get(location))
            if response.status_code != 202:
                return response
            if time.monotonic() > deadline:
                raise ClientError(
                    f"the command is accepted and still not applied after {PENDING_FOR / 60:.0f} minutes; "
                    f"it will be applied once, when the cohort can: its outcome is at {self.base_url}{location}"
                )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The response to a request; :class:`Refused` for 4xx/5xx, :class:`Unreachable` without an answer."""
        if method == "POST":
            kwargs["headers"] = {**(kwargs.get("headers") or {}), **_once()}
        return self._send(lambda: self._http.request(method, path, **kwargs))

    def get(self, path: str, **params: Any) -> Any:
        """The JSON body of a GET; a parameter given as ``None`` is left out (an option not given)."""
        return self.request("GET", path, params=_given(params)).json()

    def get_all(self, path: str, **params: Any) -> list[Any]:
        """Every item of a list the API answers a page at a time, following each page's ``Link: rel="next"``; a
        parameter given as ``None`` is left out."""
        response = self.request("GET", path, params=_given(params))
        items: list[Any] = response.json()
        while following := response.links.get("next", {}).get("url"):
            response = self.request("GET", following)
            items.extend(response.json())
        return items

    def post(self, path: str, json: Any = None) -> Any:
        """The JSON body answering a POST of ``json``."""
        return self.request("POST", path, json=json).json()

    def post_bytes(self, path: str, content: bytes, content_type: str) -> Any:
        return self.request("POST", path, content=content, headers={"Content-Type": content_type}).json()

    def upload(
        self,
        path: str,
        file: Path,
        content_type: str,
        *,
        params: dict[str, Any] | None = None,
        on_progress: Progress | None = None,
    ) -> Any:
        """POST ``file`` as the multipart field ``file``, streamed; the JSON body of the answer."""

        once = _once()

        def send() -> httpx.Response:  # a streamed body is spent once sent: each attempt streams the file anew
            body, headers = multipart_file(file, content_type, on_progress=on_progress)
            return self._http.request(
                "POST", path, content=body, headers=headers | once, params=params, timeout=self._long()
            )

        return self._send(send).json()

    def download(
        self,
        path: str,
        target: Path,
        *,
        params: dict[str, Any] | None = None,
        on_start: Callable[[int | None], None] | None = None,
        on_progress: Progress | None = None,
    ) -> int:
        """Stream a GET's body into ``target`` (whole or not at all); returns the bytes written.

        ``on_start`` is told the size the API announced, if it did.
        """
        partial = target.with_name(f".{target.name}.partial")
        written, attempt = 0, 1
        with self._reaching():
            while True:
                with self._http.stream("GET", path, params=params, timeout=self._long()) as response:
                    if response.is_error:
                        response.read()
                        if self._wait(response, attempt):
                            attempt += 1
                            continue
                        raise refusal(response)
                    length = response.headers.get("Content-Length")
                    if on_start is not None:
                        on_start(int(length) if length and length.isdigit() else None)
                    try:
                        with partial.open("wb") as out:
                            for chunk in response.iter_bytes(CHUNK):
                                out.write(chunk)
                                written += len(chunk)
                                if on_progress is not None:
                                    on_progress(len(chunk))
                        partial.replace(target)
                    finally:
                        partial.unlink(missing_ok=True)
                    return written


def _given(params: dict[str, Any]) -> dict[str, Any] | None:
    """The query parameters that were given: httpx would send ``None`` as an empty value."""
    return {name: value for name, value in params.items() if value is not None} or None
