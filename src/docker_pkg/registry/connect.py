"""The registry of a configuration: its credentials, found as :mod:`.credentials` says and
kept out of logs, and its client. The client and credential modules load only when a
registry is configured."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from docker_pkg.config.settings import Config
from docker_pkg.logs import RedactSecrets

if TYPE_CHECKING:
    from docker_pkg.registry.client import RegistryClient
    from docker_pkg.registry.credentials import Credentials

log = logging.getLogger(__name__)


def run_credentials(
    config: Config, environ: Mapping[str, str], redactor: RedactSecrets | None
) -> Credentials | None:
    """The credentials for the configured registry (None without a registry or without
    credentials); their password is given to ``redactor``."""
    if not config.registry:
        return None
    from docker_pkg.registry.credentials import find_credentials

    credentials = find_credentials(config.registry, config.username, config.password, environ)
    if credentials is not None:
        if redactor is not None:
            redactor.add(credentials.password)
        log.info("Registry credentials for %s from %s", config.registry, credentials.source)
    return credentials


def registry_client(config: Config, credentials: Credentials | None) -> RegistryClient | None:
    """The run's client of the configured registry (None when there is none)."""
    if not config.registry:
        return None
    from docker_pkg.registry.client import RegistryClient

    return RegistryClient(
        config.registry,
        credentials=credentials,
        ca_bundle=config.ca_bundle,
        http_proxy=config.http_proxy,
        insecure=config.registry in config.insecure_registries,
    )
