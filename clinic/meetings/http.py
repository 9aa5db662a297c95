"""HTTP for the adapters: every call has a timeout, and every failure becomes a typed provider error.

A request's whole answer must come within its connect and read timeouts together: `requests` bounds each
read of a socket by the read timeout, not the answer, so a provider or proxy sending a byte every few
seconds would hold the worker, and every message claimed with the one it runs, for hours. (The status line
and headers, read before the body, are still bounded by each read alone.)

`send` makes one request; `BearerClient` adds an OAuth client-credentials token, cached until
shortly before it expires and fetched again once when the API answers 401.
"""

import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
import urllib3

from .base import (
    ProviderAuthError,
    ProviderNotConfigured,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)

# Statuses worth retrying besides 5xx: request timeout and "too early".
_RETRYABLE = {408, 425}
_TOKEN_EXPIRY_MARGIN = 60.0
# The longest Retry-After taken as said: longer is no wait a consultation can take (it falls back), and one of
# centuries put the retry past the calendar's end, which stopped the worker's tick.
MAX_RETRY_AFTER = 7 * 86400.0
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for the connection, and for the response: each read, and the whole answer after the
    connection (both together bound a request, `send`)."""

    connect: float
    read: float

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> "Timeouts":
        return cls(float(settings["PROVIDER_CONNECT_TIMEOUT"]), float(settings["PROVIDER_READ_TIMEOUT"]))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), at most MAX_RETRY_AFTER; None if
    absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # isdigit() alone takes "²" too, which float() refuses
        return min(float(value), MAX_RETRY_AFTER)  # float() of 400 digits is inf
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" in the header: RFC 5322 says UTC
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - (now or datetime.now(UTC))).total_seconds()), MAX_RETRY_AFTER)


def send(
    session: requests.Session,
    method: str,
    url: str,
    timeouts: Timeouts,
    *,
    missing_ok: bool = False,
    **kwargs: Any,
) -> requests.Response | None:
    """Make one request and return the 2xx response (None for a 404 when `missing_ok`), or raise."""
    deadline = time.monotonic() + timeouts.connect + timeouts.read
    try:
        response = session.request(
            method, url, timeout=(timeouts.connect, timeouts.read), stream=True, **kwargs
        )
        _read_whole(response, deadline)
    except (
        requests.exceptions.MissingSchema,
        requests.exceptions.InvalidSchema,
        requests.exceptions.InvalidURL,
    ):
        raise ProviderNotConfigured(f"invalid provider URL {url!r}") from None
    except requests.RequestException as exc:
        raise ProviderUnavailable(f"{method} {url} {_what_failed(exc)} ({type(exc).__name__})") from exc
    status = response.status_code
    if status < 300:
        return response
    if status == 404 and missing_ok:
        return None
    message = f"{method} {url} answered {status}: {response.text[:200]}"
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 429:
        raise ProviderRateLimited(message, status=status, retry_after=retry_after)
    if status >= 500 or status in _RETRYABLE:
        raise ProviderUnavailable(message, status=status, retry_after=retry_after)
    if status == 401:
        raise ProviderAuthError(message, status=status)
    raise ProviderRejected(message, status=status)


def _read_whole(response: requests.Response, deadline: float) -> None:
    """Read the response's body by `deadline` (time.monotonic), as its `content`; else ReadTimeout, the
    connection dropped. read1 gives what has come so far, so a dripped answer is timed between its bytes."""
    chunks = []
    try:
        while chunk := response.raw.read1(_CHUNK, decode_content=True):
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise requests.exceptions.ReadTimeout("the whole answer took longer than the timeouts")
    except urllib3.exceptions.ReadTimeoutError as exc:
        response.close()
        raise requests.exceptions.ReadTimeout(str(exc)) from exc
    except urllib3.exceptions.HTTPError as exc:  # cut off, or a body its encoding cannot decode
        response.close()
        raise requests.RequestException(str(exc)) from exc
    except BaseException:
        response.close()
        raise
    # What Response.content keeps once it has read the body itself, as it would have without `stream`.
    response._content, response._content_consumed = b"".join(chunks), True
    response.raw.release_conn()


def _what_failed(exc: requests.RequestException) -> str:
    """What became of a request that got no answer, as an admin reads it."""
    if isinstance(exc, requests.exceptions.Timeout):  # before ConnectionError: ConnectTimeout is both
        return "timed out"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "could not connect to the server"
    return "failed"


def json_body(response: requests.Response, *required: str) -> dict[str, Any]:
    """The response's JSON object, which must hold `required`; anything else is a provider fault."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict) or any(key not in data for key in required):
        raise ProviderUnavailable(
            f"{response.request.method} {response.url} gave an unexpected body: {response.text[:200]}",
            status=response.status_code,
        )
    return data


class BearerClient:
    """JSON API calls with an OAuth access token from `token_url`, requested with `token_request`
    (the `requests` keyword arguments: form data, query, basic auth); `headers` go on every API call."""

    def __init__(
        self,
        token_url: str,
        token_request: Mapping[str, Any],
        timeouts: Timeouts,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._token_url = token_url
        self._token_request = token_request
        self._timeouts = timeouts
        self._headers = dict(headers or {})
        self._session = requests.Session()
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        expect: tuple[str, ...] = (),
        missing_ok: bool = False,
    ) -> dict[str, Any]:
        """Call the API and return its JSON object, which must hold the keys in `expect`.

        Returns {} when a call without `expect` gets no body, or when `missing_ok` meets a 404.
        """
        token = self._current_token()
        try:
            response = self._call(method, url, token, json, missing_ok)
        except ProviderAuthError:
            # Tokens can be revoked or expire early; one fresh token is worth a try, a loop is not.
            token = self._current_token(stale=token)
            try:
                response = self._call(method, url, token, json, missing_ok)
            except ProviderAuthError as exc:
                raise ProviderAuthError(f"{exc} (again, with a new token)", status=exc.status) from exc
        if response is None or (not expect and not response.content):
            return {}
        return json_body(response, *expect)

    def _call(
        self, method: str, url: str, token: str, json: Any, missing_ok: bool
    ) -> requests.Response | None:
        headers = self._headers | {"Authorization": f"Bearer {token}"}
        return send(
            self._session, method, url, self._timeouts, missing_ok=missing_ok, json=json, headers=headers
        )

    def _current_token(self, stale: str | None = None) -> str:
        """The cached token, or a new one if it is about to expire or is the `stale` one the API refused."""
        with self._lock:
            if self._token is None or self._token == stale or time.monotonic() >= self._expires_at:
                self._token, lifetime = self._fetch_token()
                # Renew a little early so a token never expires between our check and the provider's.
                self._expires_at = time.monotonic() + lifetime - min(_TOKEN_EXPIRY_MARGIN, lifetime / 2)
            return self._token

    def _fetch_token(self) -> tuple[str, float]:
        try:
            response = send(self._session, "POST", self._token_url, self._timeouts, **self._token_request)
        except ProviderNotConfigured:
            raise
        except ProviderRejected as exc:  # 400/403 from a token endpoint means bad credentials
            raise ProviderAuthError(f"token request refused: {exc}", status=exc.status) from exc
        data = json_body(response, "access_token")
        token, lifetime = data["access_token"], _seconds(data.get("expires_in", 3600))
        if not (isinstance(token, str) and token and lifetime is not None):
            # A provider fault like any other (retried, then fallen back from); said without the token.
            raise ProviderUnavailable(
                f"POST {self._token_url} answered an access token or expires_in of the wrong shape",
                status=response.status_code,
            )
        return token, lifetime


def _seconds(value: object) -> float | None:
    """A token's lifetime in seconds, a number or its digits (as some OAuth servers write it); None if it is
    neither, or not a finite number of seconds from now."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
