"""Authenticating to a registry as its ``WWW-Authenticate`` challenge asks: Basic, or Bearer
tokens from its token service (anonymous when there are no credentials), kept per scope
until they expire."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from docker_pkg.errors import RegistryError
from docker_pkg.registry.credentials import Credentials
from docker_pkg.registry.transport import Transport, TransportError

_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…",scope="…"`` as ("bearer", {realm, service, scope})."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE.findall(rest))


@dataclass
class _Token:
    value: str
    expires: float


class Authenticator:
    """The authorization of one registry's requests, shared by every thread of a run."""

    def __init__(
        self,
        registry: str,
        credentials: Credentials | None,
        transport: Transport,
        clock: Callable[[], float],
    ):
        self._registry = registry
        self._credentials = credentials
        self._transport = transport
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}
        self._basic = False

    def learn(self, challenge: str) -> None:
        """A first answer's challenge: when it asks for Basic authentication, every later
        request carries the credentials at once instead of meeting the challenge first."""
        scheme, _ = parse_challenge(challenge)
        with self._lock:
            self._basic = scheme == "basic" and self._credentials is not None

    def header(self, scope: str) -> dict[str, str]:
        """What a request for ``scope`` carries before any challenge: a kept token, or
        Basic credentials once the registry asked for them."""
        with self._lock:
            token = self._tokens.get(scope)
            if token is not None and token.expires > self._clock():
                return {"Authorization": f"Bearer {token.value}"}
            basic = self._basic
        if basic and self._credentials is not None:
            return {"Authorization": self._credentials.basic_header()}
        return {}

    def answer(self, challenge: str, scope: str) -> str | None:
        """The ``Authorization`` that answers ``challenge``; None when it wants credentials
        and there are none."""
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if self._credentials is None:
                return None
            with self._lock:
                self._basic = True
            return self._credentials.basic_header()
        if scheme == "bearer" and params.get("realm"):
            return f"Bearer {self._token(params, scope)}"
        raise RegistryError(
            f"registry {self._registry} asks for an authentication it does not explain "
            f"({scheme or 'no challenge'})"
        )

    def _token(self, params: dict[str, str], scope: str) -> str:
        """A token for ``scope`` from the realm (with credentials when there are any)."""
        registry = self._registry
        query = {"service": params.get("service", ""), "scope": params.get("scope") or scope}
        auth = self._credentials.as_tuple() if self._credentials else None
        try:
            response = self._transport.request("GET", params["realm"], params=query, auth=auth)
        except TransportError as exc:
            raise RegistryError(f"token service of {registry} failed: {exc}") from None
        if response.status_code in (401, 403):
            raise RegistryError(
                f"the token service of registry {registry} refused the credentials "
                f"(HTTP {response.status_code}): check username and password"
            )
        if response.status_code != 200:
            raise RegistryError(
                f"the token service of registry {registry} answered HTTP {response.status_code}"
            )
        try:
            data: dict[str, Any] = response.json()
            value = str(data.get("token") or data["access_token"])
        except (ValueError, KeyError):
            raise RegistryError(f"the token service of registry {registry} sent no token") from None
        lifetime = float(data.get("expires_in") or 60)
        with self._lock:
            # Renew a little early, so no request goes out with a token about to expire.
            self._tokens[scope] = _Token(value, self._clock() + max(lifetime - 10, lifetime / 2))
        return value
