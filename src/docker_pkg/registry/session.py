"""The session with one registry: kept-alive connections (:mod:`.transport`) shared by every
request of a run (thread-safe), HTTPS or (loopback and ``insecure_registries`` only) plain
HTTP as a first ``GET /v2/`` finds, authentication (:mod:`.auth`), and retries.

Every request has a timeout; connection errors, 429 (honouring ``Retry-After``) and 5xx are
retried with exponential backoff and jitter, bounded in count and time. A 401 after
authenticating, a 403 or a 404 is never retried.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from docker_pkg.errors import RegistryAnswerError, RegistryError
from docker_pkg.registry.auth import Authenticator
from docker_pkg.registry.credentials import Credentials
from docker_pkg.registry.media_types import MANIFEST_TYPES
from docker_pkg.registry.transport import (
    Response,
    TLSFailure,
    Transport,
    TransportError,
    is_loopback_host,
)

log = logging.getLogger(__name__)

TIMEOUT = (5.0, 30.0)


def is_loopback(registry: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1``, with or without a port."""
    host = registry
    if host.startswith("["):
        host = host[1 : host.find("]")]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return is_loopback_host(host)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts and in total time."""

    attempts: int = 5
    base: float = 0.2
    cap: float = 5.0
    budget: float = 30.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None:
            return min(retry_after, self.cap)
        return rng.uniform(0, min(self.cap, self.base * 2**attempt))


RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})


def retry_after(response: Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@dataclass
class RegistrySession:
    """Requests to one registry, authenticated and retried."""

    registry: str
    credentials: Credentials | None = None
    ca_bundle: str | None = None
    http_proxy: str | None = None
    insecure: bool = False
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    _transport: Transport = field(init=False)
    _auth: Authenticator = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _base_url: str | None = None
    _rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        proxy = self.http_proxy if self.http_proxy and not self.plain_http_allowed else None
        self._transport = Transport(
            ca_bundle=self.ca_bundle,
            proxy=proxy,
            connect_timeout=TIMEOUT[0],
            read_timeout=TIMEOUT[1],
        )
        self._auth = Authenticator(self.registry, self.credentials, self._transport, self.clock)

    @property
    def plain_http_allowed(self) -> bool:
        return self.insecure or is_loopback(self.registry)

    def close(self) -> None:
        self._transport.close()

    @property
    def base_url(self) -> str:
        """``https://HOST/v2``; for an allowed registry without TLS, ``http://HOST/v2``.

        Learnt from a first ``GET /v2/`` (as the Docker engine does); when its answer asks
        for Basic authentication, every later request carries the credentials at once
        instead of each thread meeting the challenge first.
        """
        with self._lock:
            if self._base_url is None:
                secure, answer = self._first_contact()
                plain = self.plain_http_allowed and not secure
                self._base_url = f"{'http' if plain else 'https'}://{self.registry}/v2"
                if answer is not None and answer.status_code == 401:
                    self._auth.learn(answer.headers.get("WWW-Authenticate", ""))
            return self._base_url

    def _first_contact(self) -> tuple[bool, Response | None]:
        """Whether the registry speaks TLS, and its answer to ``GET /v2/`` over it."""
        try:
            return True, self._transport.request("GET", f"https://{self.registry}/v2/")
        except TLSFailure as exc:
            # A TLS server whose certificate we do not trust still speaks TLS.
            return "certificate" in str(exc).lower(), None
        except TransportError:
            return not self.plain_http_allowed, None

    def _send(
        self, method: str, url: str, headers: dict[str, str], data: bytes | None = None
    ) -> Response:
        """One request, retried on connection errors, 429 and 5xx within the policy."""
        started = self.clock()
        attempt = 0
        while True:
            wait: float | None = None
            answered: int | None = None
            try:
                response = self._transport.request(method, url, headers, data)
            except TLSFailure as exc:
                raise RegistryError(
                    f"TLS failed talking to registry {self.registry} (set ca_bundle?): {exc}"
                ) from None
            except TransportError as exc:
                failure = f"cannot reach registry {self.registry}: {exc}"
            else:
                if response.status_code not in RETRIED_STATUS:
                    return response
                answered = response.status_code
                failure = f"registry {self.registry} answered HTTP {answered}"
                wait = retry_after(response)
            attempt += 1
            delay = self.policy.delay(attempt, wait, self._rng)
            spent = self.clock() - started
            if attempt >= self.policy.attempts or spent + delay > self.policy.budget:
                message = f"{failure} (gave up after {attempt} attempts)"
                if answered is not None:
                    raise RegistryAnswerError(message, answered)
                raise RegistryError(message)
            log.info("%s; retrying in %.1fs (attempt %d)", failure, delay, attempt + 1)
            self.sleep(delay)

    def ping(self) -> int:
        """The status of ``GET /v2/`` (no authentication: a working registry answers 200,
        or 401 asking for it), retried as every request is."""
        return self._send("GET", f"{self.base_url}/", {}).status_code

    def request(
        self,
        method: str,
        path: str,
        scope: str,
        accept: str = MANIFEST_TYPES,
        body: tuple[str, bytes] | None = None,
    ) -> Response:
        """``method`` on ``/v2/path``, authenticating as the registry's challenge asks;
        ``body`` is (content type, bytes)."""
        url = f"{self.base_url}/{path}"
        if path.startswith(("/", "http://", "https://")):  # a Location the registry gave
            url = urljoin(f"{self.base_url}/", path)
            if urlsplit(url).netloc != urlsplit(self.base_url).netloc:
                raise RegistryError(f"registry {self.registry} sent us elsewhere: {url}")
        extra = {"Content-Type": body[0]} if body else {}
        data = body[1] if body else None
        headers = {"Accept": accept, **extra, **self._auth.header(scope)}
        response = self._send(method, url, headers, data)
        if response.status_code != 401:
            return response
        challenge = response.headers.get("WWW-Authenticate", "")
        authorization = self._auth.answer(challenge, scope)
        if authorization is None:
            raise RegistryError(
                f"registry {self.registry} asks for credentials; none were found (config, "
                "DOCKER_PKG_REGISTRY_USERNAME/PASSWORD, or ~/.docker/config.json)"
            )
        response = self._send(
            method, url, {"Accept": accept, **extra, "Authorization": authorization}, data
        )
        if response.status_code == 401:
            raise RegistryError(
                f"registry {self.registry} refused the credentials (HTTP 401): check username "
                "and password"
            )
        return response
