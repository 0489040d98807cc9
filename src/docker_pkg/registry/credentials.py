"""Registry credentials: where they come from, in order, and how they are kept secret.

1. ``username`` and ``password`` in the configuration;
2. the environment: ``DOCKER_PKG_REGISTRY_USERNAME`` and ``DOCKER_PKG_REGISTRY_PASSWORD``
   (so that no secret has to be in a file);
3. the Docker client's own configuration (``$DOCKER_CONFIG/config.json``, by default
   ``~/.docker/config.json``): ``auths``, ``credsStore`` and ``credHelpers``, through the
   Docker SDK's credential support.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field

from docker_pkg.errors import ConfigError

ENV_USERNAME = "DOCKER_PKG_REGISTRY_USERNAME"
ENV_PASSWORD = "DOCKER_PKG_REGISTRY_PASSWORD"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    source: str = "config"

    def as_tuple(self) -> tuple[str, str]:
        return self.username, self.password

    def basic_header(self) -> str:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {token}"

    def engine_auth(self, registry: str) -> dict[str, str]:
        """The ``auth_config`` the engine wants for pushes and pulls."""
        return {"username": self.username, "password": self.password, "serveraddress": registry}


def find_credentials(
    registry: str,
    username: str | None,
    password: str | None,
    environ: Mapping[str, str],
) -> Credentials | None:
    """The first complete pair of the sources, in order; None when there is none."""
    if not registry:
        return None
    if username and password:
        return Credentials(username, password, "config")
    env_user, env_password = environ.get(ENV_USERNAME), environ.get(ENV_PASSWORD)
    if env_user and env_password:
        return Credentials(env_user, env_password, "environment")
    return _from_docker_config(registry, environ)


def _from_docker_config(registry: str, environ: Mapping[str, str]) -> Credentials | None:
    import docker.auth  # the SDK, only when the credentials are not given to us directly
    import docker.errors

    try:
        auth = docker.auth.load_config(credstore_env=dict(environ))
        entry = auth.resolve_authconfig(registry)
    except docker.errors.DockerException as exc:
        raise ConfigError(f"cannot read the Docker client's credentials: {exc}") from None
    if not entry:
        return None
    user, secret = (
        entry.get("Username") or entry.get("username"),
        entry.get("Password") or entry.get("password"),
    )
    if user and secret:
        return Credentials(str(user), str(secret), "docker config")
    return None
