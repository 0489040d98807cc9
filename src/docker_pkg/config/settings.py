"""Configuration: the reference's keys and defaults, merged and checked once, typed.

The merge is the reference's: defaults, then the user file
(``$XDG_CONFIG_HOME/docker-pkg.yaml``), then ``--configfile``. The merged mapping is kept
whole (unknown keys included) because every key is a template variable.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import string
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from docker_pkg.caches import code_signature, read_json, write_json
from docker_pkg.errors import ConfigError
from docker_pkg.files import decode_text, digest, read_bytes
from docker_pkg.naming import is_valid_platform, is_valid_short_name

PARSE_FORMAT = 2  # of a parsed configuration kept in the cache
# Configuration keys whose values are never written to any file docker-pkg keeps.
SECRET_KEYS = ("password",)

DEFAULTS: Mapping[str, Any] = {
    "registry": "",
    "username": None,
    "password": None,
    "base_images": [],
    "apt_options": "",
    "http_proxy": None,
    "apt_only_proxy": None,
    "namespace": "",
    "scan_workers": 8,
    "fallback_author": "Author",
    "fallback_email": "email@domain",
    "distribution": "wikimedia",
    "update_id": "s",
    "ca_bundle": None,
    "force_numeric_user": False,
    "known_uid_mappings": {"root": 0, "www-data": 33, "nobody": 65534},
    "verify_command": "/bin/bash",
    "verify_args": ["-c", "{path}/test.sh {image}"],
}

CONTAINER_LIMIT_KEYS = ("memory", "memswap", "cpushares", "cpusetcpus")
# Generous: real images (compilers, ML stacks) take an hour to build; a test minutes.
DEFAULT_BUILD_TIMEOUT = 4 * 3600.0
DEFAULT_VERIFY_TIMEOUT = 3600.0
DEFAULT_HISTORY_DAYS = 90
_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(?::[0-9]+)?$|^\[[0-9A-Fa-f:]+\](?::[0-9]+)?$")


@dataclass(frozen=True)
class EngineSpec:
    """One engine of the pool: where it answers, how many builds it takes at once, the
    platform it builds for (None: its own) and, for ``tcp://``, TLS client files."""

    name: str
    url: str
    jobs: int | None = None
    platform: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None


ENGINE_SCHEMES = ("unix", "tcp", "ssh", "npipe")


@dataclass(frozen=True)
class Config:
    """Typed settings of one run. ``template_vars`` is the whole merged mapping."""

    template_vars: Mapping[str, Any] = field(repr=False)
    registry: str = ""
    namespace: str = ""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    base_images: tuple[str, ...] = ()
    http_proxy: str | None = None
    scan_workers: int = 8
    fallback_author: str = "Author"
    fallback_email: str = "email@domain"
    distribution: str = "wikimedia"
    update_id: str = "s"
    ca_bundle: str | None = None
    force_numeric_user: bool = False
    known_uid_mappings: Mapping[str, int] = field(default_factory=dict)
    verify_command: str = "/bin/bash"
    verify_args: tuple[str, ...] = ()
    container_limits: Mapping[str, str] = field(default_factory=dict)
    network_mode: str | None = None
    builder: str | None = None  # buildkit or classic; None: buildkit where the engine has it
    insecure_registries: tuple[str, ...] = ()
    history_db: str | None = None
    image_source: str | None = None
    image_labels: bool = True
    sbom: bool = True  # take each built image's package inventory
    container_limits_strict: bool = False
    build_timeout: float | None = DEFAULT_BUILD_TIMEOUT
    verify_timeout: float | None = DEFAULT_VERIFY_TIMEOUT
    template_cache: str | None = None  # folder of compiled templates; None: none kept
    tree_cache: str | None = None  # folder of kept scans (tree_cache.py); None: none kept
    history_days: int | None = DEFAULT_HISTORY_DAYS  # runs older are forgotten; None: never
    engines: tuple[EngineSpec, ...] = ()  # empty: the one engine of DOCKER_HOST
    platforms: tuple[str, ...] = ()  # set: every image is an index of these platforms

    @property
    def proxy_build_args(self) -> dict[str, str]:
        """Build arguments (and verification environment) carrying the HTTP proxy."""
        if not self.http_proxy:
            return {}
        names = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")
        return dict.fromkeys(names, self.http_proxy)

    def secrets(self) -> list[str]:
        return [s for s in (self.password,) if s]


def user_config_path(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(
        environ.get("HOME", os.path.expanduser("~")), ".config"
    )
    return Path(base) / "docker-pkg.yaml"


def state_dir(environ: Mapping[str, str]) -> Path:
    """Where docker-pkg keeps its state: history, logs, locks (``$XDG_STATE_HOME``)."""
    base = environ.get("XDG_STATE_HOME") or os.path.join(
        environ.get("HOME", os.path.expanduser("~")), ".local", "state"
    )
    return Path(base) / "docker-pkg"


def cache_dir(environ: Mapping[str, str]) -> Path:
    """Where docker-pkg keeps what it can always make again (``$XDG_CACHE_HOME``)."""
    base = environ.get("XDG_CACHE_HOME") or os.path.join(
        environ.get("HOME", os.path.expanduser("~")), ".cache"
    )
    return Path(base) / "docker-pkg"


def _read_yaml(path: Path, cache: Path | None) -> tuple[dict[str, Any], dict[str, int]]:
    """The mapping in ``path`` and the 1-based line of each top-level key (from ``cache``
    when a file of these very bytes was parsed before: PyYAML takes longer to import than
    a short command takes to run)."""
    if not os.path.lexists(path):
        raise ConfigError("configuration file not found", path=path)
    raw = read_bytes(path, "the configuration file", ConfigError)
    text = decode_text(raw, path, "the configuration file", ConfigError)
    kept_at = None
    if cache is not None:
        key = json.dumps([PARSE_FORMAT, code_signature(("yaml",)), digest(raw)])
        kept_at = cache / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"
        kept = _from_cache(read_json(kept_at), text)
        if kept is not None:
            return kept
    from docker_pkg.config.yaml_file import parse_mapping

    data, lines = parse_mapping(text, path)
    if kept_at is not None and _survives_json(data):
        spans = _secret_spans(data, lines, text)
        if spans is not None:
            public = {k: (None if k in spans else v) for k, v in data.items()}
            write_json(kept_at, {"data": public, "lines": lines, "secrets": spans})
    return data, lines


def _secret_spans(
    data: Mapping[str, Any], lines: Mapping[str, int], text: str
) -> dict[str, list[int]] | None:
    """Where in ``text`` each secret value stands, as [start, end] character offsets, so a
    kept parse holds none of them and takes them from the file (of the very same bytes)
    each time; None when one cannot be found that way (the parse is then not kept)."""
    spans = {}
    for key in SECRET_KEYS:
        value = data.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or key not in lines:
            return None
        line_start = 0
        for _ in range(lines[key] - 1):
            line_start = text.find("\n", line_start) + 1
        line_end = text.find("\n", line_start)
        line = text[line_start : len(text) if line_end < 0 else line_end]
        after_key = line.find(":") + 1
        found = line.find(value, after_key)
        if after_key == 0 or found < 0 or line.find(value, found + 1) >= 0:
            return None
        start = line_start + found
        spans[key] = [start, start + len(value)]
    return spans


def _from_cache(kept: Any, text: str) -> tuple[dict[str, Any], dict[str, int]] | None:
    """A kept parse with its secrets read back from ``text``; None when there is none."""
    if not isinstance(kept, dict) or not isinstance(kept.get("data"), dict):
        return None
    data: dict[str, Any] = kept["data"]
    spans = kept.get("secrets") or {}
    if not isinstance(spans, dict):
        return None
    for key, span in spans.items():
        if not (
            isinstance(span, list) and len(span) == 2 and all(isinstance(i, int) for i in span)
        ):
            return None
        data[key] = text[span[0] : span[1]]
    return data, kept.get("lines") or {}


def _survives_json(data: dict[str, Any]) -> bool:
    """Whether ``data`` comes back from JSON as it is (no dates, sets or integer keys)."""
    try:
        return bool(json.loads(json.dumps(data)) == data)
    except (TypeError, ValueError):
        return False


def parse_container_limits(value: Any, where: _Where) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, str):
        raise where.error("container_limits", "must be a string like 'memory=1g,cpushares=512'")
    limits: dict[str, str] = {}
    for setting in value.split(","):
        key, sep, val = setting.strip().partition("=")
        if not sep or not key or not val:
            raise where.error("container_limits", f"{setting!r} is not of the form key=value")
        if key not in CONTAINER_LIMIT_KEYS:
            allowed = ", ".join(CONTAINER_LIMIT_KEYS)
            raise where.error("container_limits", f"unknown key {key!r} (allowed: {allowed})")
        limits[key] = val
    return limits


@dataclass
class _Where:
    """Which file (and line) each merged key came from, for error messages."""

    origin: dict[str, tuple[Path, int | None]]

    def error(self, key: str, problem: str) -> ConfigError:
        path, line = self.origin.get(key, (None, None))
        return ConfigError(f"{key}: {problem}", path=path, line=line)


def _expect(
    merged: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: _Where
) -> Any:
    value = merged[key]
    if value is not None and not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise where.error(key, f"expected {names}, got {type(value).__name__}")
    return value


def _optional_str(merged: Mapping[str, Any], key: str, where: _Where) -> str | None:
    value = _expect(merged, key, (str, int, float), where)
    return None if value is None else str(value)


def _str_list(merged: Mapping[str, Any], key: str, where: _Where) -> tuple[str, ...]:
    value = _expect(merged, key, list, where) or []
    if not all(isinstance(v, str) for v in value):
        raise where.error(key, "every item must be a string")
    return tuple(value)


def _verify_args(merged: Mapping[str, Any], where: _Where) -> tuple[str, ...]:
    """``verify_args``: each item is formatted with ``{path}`` and ``{image}`` and read as a
    shell would split it; anything else in braces, or an unbalanced quote, is an error here
    rather than a failure of every image's verification."""
    args = _str_list(merged, "verify_args", where)
    for arg in args:
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(arg) if name is not None]
            shlex.split(arg)
        except ValueError as exc:
            raise where.error("verify_args", f"{arg!r}: {exc}") from None
        unknown = sorted(set(fields) - {"path", "image"})
        if unknown:
            raise where.error(
                "verify_args",
                f"{arg!r} names {', '.join('{' + f + '}' for f in unknown)}; only {{path}} "
                "and {image} are known (write {{ and }} for a brace)",
            )
    return args


def _flag(merged: Mapping[str, Any], key: str, default: bool, where: _Where) -> bool:
    value = merged.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise where.error(key, f"expected true or false, got {value!r}")
    return value


def _seconds(merged: Mapping[str, Any], key: str, default: float, where: _Where) -> float | None:
    """A time limit in seconds; ``null`` or ``0`` turns it off."""
    value = merged.get(key, default)
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise where.error(key, f"expected a number of seconds, got {value!r}")
    return float(value)


def _days(merged: Mapping[str, Any], key: str, default: int, where: _Where) -> int | None:
    """A number of days; ``null`` or ``0`` for no limit."""
    value = merged.get(key, default)
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise where.error(key, f"expected a whole number of days, got {value!r}")
    return value


def _platforms(merged: Mapping[str, Any], where: _Where) -> tuple[str, ...]:
    value = merged.get("platforms")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise where.error("platforms", "expected a list like [linux/amd64, linux/arm64]")
    bad = [v for v in value if not is_valid_platform(v)]
    if bad or not value:
        raise where.error("platforms", f"{bad or value} are not os/arch[/variant]")
    return tuple(dict.fromkeys(value))


def parse_engines(value: Any, where: _Where) -> tuple[EngineSpec, ...]:
    """The ``engines`` list: each a mapping with ``url`` and optional ``name``, ``jobs``,
    ``platform`` and ``tls`` (``ca``, ``cert``, ``key``)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise where.error("engines", "expected a list of engines (each with a url)")
    specs: list[EngineSpec] = []
    for index, entry in enumerate(value, start=1):
        if not isinstance(entry, dict):
            raise where.error("engines", f"engine {index}: expected a mapping with a url")
        unknown = set(entry) - {"name", "url", "jobs", "platform", "tls"}
        if unknown:
            raise where.error("engines", f"engine {index}: unknown keys {sorted(unknown)}")
        url = entry.get("url")
        if not isinstance(url, str) or url.partition("://")[0] not in ENGINE_SCHEMES:
            raise where.error(
                "engines", f"engine {index}: url must be unix://, tcp://, ssh:// (got {url!r})"
            )
        name = entry.get("name", f"engine{index}")
        jobs = entry.get("jobs")
        if isinstance(jobs, bool) or (jobs is not None and (not isinstance(jobs, int) or jobs < 1)):
            raise where.error("engines", f"engine {index}: jobs must be a whole number >= 1")
        platform = entry.get("platform")
        if platform is not None and (
            not isinstance(platform, str) or not is_valid_platform(platform)
        ):
            raise where.error("engines", f"engine {index}: {platform!r} is not os/arch[/variant]")
        tls = entry.get("tls") or {}
        if not isinstance(tls, dict) or (tls and set(tls) != {"ca", "cert", "key"}):
            raise where.error("engines", f"engine {index}: tls needs ca, cert and key files")
        specs.append(
            EngineSpec(
                str(name), url, jobs, platform, tls.get("ca"), tls.get("cert"), tls.get("key")
            )
        )
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise where.error("engines", f"engine names must differ: {names}")
    return tuple(specs)


def _registry(merged: Mapping[str, Any], where: _Where) -> str:
    registry = _optional_str(merged, "registry", where) or ""
    if registry and not _REGISTRY.match(registry):
        raise where.error(
            "registry", f"{registry!r} is not a registry host[:port] (no scheme, no path)"
        )
    return registry


def _namespace(merged: Mapping[str, Any], where: _Where) -> str:
    namespace = _optional_str(merged, "namespace", where) or ""
    if namespace and not is_valid_short_name(namespace.strip("/")):
        raise where.error(
            "namespace",
            f"{namespace!r} is not a valid repository path (lowercase letters, digits, separators)",
        )
    return namespace


def build_config(merged: Mapping[str, Any], where: _Where) -> Config:
    """Check the merged mapping and turn it into a :class:`Config`."""
    # Read by the template filters; http_proxy first, as apt_only_proxy may be a copy of it.
    for text_only in ("http_proxy", "apt_options", "apt_only_proxy"):
        _optional_str(merged, text_only, where)
    scan_workers = _expect(merged, "scan_workers", int, where)
    if isinstance(scan_workers, bool) or scan_workers is None or scan_workers < 1:
        raise where.error("scan_workers", "must be a whole number of at least 1")
    mappings = _expect(merged, "known_uid_mappings", dict, where) or {}
    uid_map: dict[str, int] = {}
    for user, uid in mappings.items():
        if isinstance(uid, bool) or not isinstance(uid, int):
            raise where.error("known_uid_mappings", f"the uid of {user!r} must be a number")
        uid_map[str(user)] = uid
    network_mode = (
        _optional_str(merged, "network_mode", where) if "network_mode" in merged else None
    )
    builder = _optional_str(merged, "builder", where) if "builder" in merged else None
    if builder not in (None, "buildkit", "classic"):
        raise where.error("builder", f"{builder!r} is neither 'buildkit' nor 'classic'")
    return Config(
        template_vars=merged,
        registry=_registry(merged, where),
        namespace=_namespace(merged, where),
        username=_optional_str(merged, "username", where),
        password=_optional_str(merged, "password", where),
        base_images=_str_list(merged, "base_images", where),
        http_proxy=_optional_str(merged, "http_proxy", where),
        scan_workers=scan_workers,
        fallback_author=_optional_str(merged, "fallback_author", where) or "",
        fallback_email=_optional_str(merged, "fallback_email", where) or "",
        distribution=_optional_str(merged, "distribution", where) or "",
        update_id=_optional_str(merged, "update_id", where) or "",
        ca_bundle=_optional_str(merged, "ca_bundle", where),
        force_numeric_user=_flag(merged, "force_numeric_user", False, where),
        known_uid_mappings=uid_map,
        verify_command=_optional_str(merged, "verify_command", where) or "",
        verify_args=_verify_args(merged, where),
        container_limits=parse_container_limits(merged.get("container_limits"), where),
        network_mode=network_mode,
        builder=builder,
        insecure_registries=_str_list(merged, "insecure_registries", where)
        if "insecure_registries" in merged
        else (),
        container_limits_strict=_flag(merged, "container_limits_strict", False, where),
        history_db=_optional_str(merged, "history_db", where) if "history_db" in merged else None,
        image_source=(
            _optional_str(merged, "image_source", where) if "image_source" in merged else None
        ),
        image_labels=_flag(merged, "image_labels", True, where),
        sbom=_flag(merged, "sbom", True, where),
        build_timeout=_seconds(merged, "build_timeout", DEFAULT_BUILD_TIMEOUT, where),
        verify_timeout=_seconds(merged, "verify_timeout", DEFAULT_VERIFY_TIMEOUT, where),
        history_days=_days(merged, "history_days", DEFAULT_HISTORY_DAYS, where),
        engines=parse_engines(merged.get("engines"), where),
        platforms=_platforms(merged, where),
    )


def load_config(configfile: Path | None, environ: Mapping[str, str]) -> Config:
    """Read the user file (when present) and ``configfile`` (None: none), merge them over
    the defaults."""
    caches = cache_dir(environ)
    merged: dict[str, Any] = dict(DEFAULTS)
    origin: dict[str, tuple[Path, int | None]] = {}
    user_file = user_config_path(environ)
    layers = [user_file] if user_file.is_file() else []
    if configfile is not None:
        layers.append(configfile)
    for path in layers:
        data, lines = _read_yaml(path, caches / "configs")
        merged.update(data)
        origin.update({key: (path, lines.get(key)) for key in data})
    config = _finish(merged, _Where(origin))
    return replace(
        config, template_cache=str(caches / "templates"), tree_cache=str(caches / "trees")
    )


def config_from_mapping(values: Mapping[str, Any]) -> Config:
    """A :class:`Config` from in-memory values over the defaults (tests, library use)."""
    return _finish({**DEFAULTS, **values}, _Where({}))


def _finish(merged: dict[str, Any], where: _Where) -> Config:
    # As the reference: with no apt-only proxy, apt goes through the HTTP proxy.
    if merged["http_proxy"] is not None and merged["apt_only_proxy"] is None:
        merged["apt_only_proxy"] = merged["http_proxy"]
    return build_config(merged, where)
