"""Pure parts of the registry client and the credential lookup."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import pytest

from docker_pkg.config.settings import config_from_mapping
from docker_pkg.registry.auth import parse_challenge
from docker_pkg.registry.client import RegistryClient
from docker_pkg.registry.connect import registry_client
from docker_pkg.registry.credentials import Credentials, find_credentials
from docker_pkg.registry.session import RetryPolicy, is_loopback


def test_challenges_are_parsed() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.example/token",
        "service": "reg",
        "scope": "repository:a/b:pull",
    }
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})


@pytest.mark.parametrize(
    ("registry", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("localhost", True),
        ("[::1]:5000", True),
        ("127.8.9.1", True),
        ("registry.example", False),
        ("10.0.0.1:5000", False),
    ],
)
def test_loopback(registry: str, loopback: bool) -> None:
    assert is_loopback(registry) is loopback


def test_plain_http_only_for_loopback_and_listed_registries() -> None:
    assert RegistryClient("127.0.0.1:5000").plain_http_allowed
    assert not RegistryClient("registry.example:5000").plain_http_allowed
    assert RegistryClient("registry.example:5000", insecure=True).plain_http_allowed
    config = config_from_mapping(
        {"registry": "registry.example:5000", "insecure_registries": ["registry.example:5000"]}
    )
    client = registry_client(config, None)
    assert client is not None
    assert client.plain_http_allowed


def test_backoff_grows_is_capped_and_honours_retry_after() -> None:
    policy = RetryPolicy(base=0.5, cap=4.0)
    rng = random.Random(1)
    bounds = [min(4.0, 0.5 * 2**n) for n in range(1, 8)]
    for attempt, bound in enumerate(bounds, start=1):
        assert 0 <= policy.delay(attempt, None, rng) <= bound
    assert policy.delay(1, 2.5, rng) == 2.5
    assert policy.delay(1, 60, rng) == 4.0


def test_credentials_never_show_the_password() -> None:
    creds = Credentials("user", "pa55-Word")
    assert "pa55-Word" not in repr(creds)
    assert creds.basic_header() == "Basic " + base64.b64encode(b"user:pa55-Word").decode()


def test_credential_sources_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    auth = base64.b64encode(b"fromfile:file-secret").decode()
    (config_dir / "config.json").write_text(json.dumps({"auths": {"reg.example": {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    env = {"DOCKER_PKG_REGISTRY_USERNAME": "fromenv", "DOCKER_PKG_REGISTRY_PASSWORD": "env-secret"}

    from_config = find_credentials("reg.example", "cfg", "cfg-secret", env)
    assert (from_config and from_config.username, from_config and from_config.source) == (
        "cfg",
        "config",
    )
    from_env = find_credentials("reg.example", None, None, env)
    assert from_env == Credentials("fromenv", "env-secret", "environment")
    from_file = find_credentials("reg.example", None, None, {})
    assert from_file == Credentials("fromfile", "file-secret", "docker config")
    assert find_credentials("other.example", None, None, {}) is None
    assert find_credentials("", "cfg", "cfg-secret", env) is None
    # A half pair does not count.
    assert find_credentials("other.example", "cfg", None, {}) is None
