"""Rendering ``Dockerfile.template``: the reference's Jinja environment and its six filters.

The output must match the reference byte for byte (same Jinja settings: strict undefined,
the ``do`` extension, no trailing newline kept), so existing definitions keep producing the
same Dockerfiles. A :class:`Renderer` belongs to one run; nothing is global.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import marshal
import os
import re
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import CodeType
from typing import Any

import jinja2
from debian.debian_support import BaseVersion
from jinja2.bccache import Bucket
from jinja2.loaders import split_template_path

from docker_pkg.caches import write_bytes
from docker_pkg.config.settings import Config
from docker_pkg.errors import (
    DefinitionError,
    ManyErrors,
    NumericUserError,
    TemplateError,
)
from docker_pkg.files import lexists, read_text
from docker_pkg.forked import share_with_a_fork
from docker_pkg.naming import full_name, split_label
from docker_pkg.tree.definitions import BUILD_TEMPLATE, TEMPLATE, ImageDefinition, Rendered

log = logging.getLogger(__name__)

_NUMERIC_USER = re.compile(r"^USER\s+\d+(?::\d+)?$")
# Changes with the Jinja environment's settings (extensions, undefined, autoescape,
# optimizer): code compiled under other settings is not reused.
COMPILED_FORMAT = "2: do, strict undefined, no autoescape, not optimized"


class FilterError(Exception):
    """A filter refused its input; reported with the template line that called it."""


def _jinja_str(value: Any) -> str:
    """How Jinja prints a value into a template (``None`` becomes ``'None'``)."""
    return str(value)


def _proxy_lines(proxy: str) -> str:
    return f"echo 'Acquire::http::Proxy \"{proxy}\";' > /etc/apt/apt.conf.d/80_proxy \\\n    && "


def _at_render_time(function: Callable[..., str]) -> Callable[..., str]:
    """``function`` as a filter that runs when a template renders, never when it compiles.

    Jinja folds a filter called with constants into the compiled template (``{{ "base" |
    image_tag }}`` would become the label itself). Ours answer from the run's known images,
    registry and uid mappings, and may warn: a compiled template holding their answers
    would be valid for one tree at one version, and would stay silent where the render
    warned. A filter that asks for the render's context is never folded.
    """

    @jinja2.pass_context
    def at_render_time(context: jinja2.runtime.Context, *args: Any, **kwargs: Any) -> str:
        return function(*args, **kwargs)

    return at_render_time


@dataclass(frozen=True)
class Filters:
    """The six filters, bound to one run's configuration and known images."""

    variables: Mapping[str, Any]
    known_images: tuple[str, ...]
    registry: str
    namespace: str
    uid_mappings: Mapping[str, int]

    def as_dict(self) -> dict[str, Any]:
        filters: dict[str, Callable[..., str]] = {
            "image_tag": self.image_tag,
            "upstream_version": self.upstream_version,
            "apt_install": self.apt_install,
            "apt_remove": self.apt_remove,
            "uid": self.uid,
            "add_user": self.add_user,
        }
        return {name: _at_render_time(function) for name, function in filters.items()}

    @functools.cached_property
    def _labels_by_name(self) -> dict[str, str]:
        """The first known label with a tag for each full name (scanned images first)."""
        found: dict[str, str] = {}
        for label in self.known_images:
            name, tag = split_label(label)
            if tag:
                found.setdefault(name, label)
        return found

    def image_tag(self, short_name: str) -> str:
        wanted = full_name(self.registry, self.namespace, short_name)
        label = self._labels_by_name.get(wanted)
        if label is None:
            raise FilterError(f"image_tag: no known image named {wanted!r}")
        return label

    @staticmethod
    def upstream_version(label: str) -> str:
        _, tag = split_label(label)
        if not tag:
            raise FilterError(f"upstream_version: {label!r} has no tag")
        if "-" not in tag:
            return tag
        # Only the first two dash-separated parts make the Debian version: 1.63.0-1-20241211
        tag = "-".join(tag.split("-")[:2])
        return str(BaseVersion(tag).upstream_version)

    def _apt_proxy(self) -> str | None:
        proxy = self.variables.get("apt_only_proxy")
        return _jinja_str(proxy) if proxy else None

    def apt_install(self, packages: str) -> str:
        packages = packages.replace("\n", " ")
        opts = _jinja_str(self.variables.get("apt_options", ""))
        proxy = self._apt_proxy()
        command = _proxy_lines(proxy) if proxy else ""
        command += (
            f"apt-get update {opts} \\\n"
            "    && DEBIAN_FRONTEND=noninteractive \\\n"
            f"    apt-get install {opts} --yes {packages} --no-install-recommends \\\n"
        )
        if proxy:
            command += "    && rm -f /etc/apt/apt.conf.d/80_proxy \\\n"
        return command + "    && apt-get clean && rm -rf /var/lib/apt/lists/* "

    def apt_remove(self, packages: str) -> str:
        packages = packages.replace("\n", " ")
        proxy = self._apt_proxy()
        command = _proxy_lines(proxy) if proxy else ""
        command += (
            "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get remove --yes --purge "
            f"{packages} \\\n"
        )
        if proxy:
            command += "    && rm -f /etc/apt/apt.conf.d/80_proxy \\\n"
        return command + "    && apt-get clean && rm -rf /var/lib/apt/lists/* "

    def uid(self, user: str) -> str:
        if user not in self.uid_mappings:
            log.warning("UID mapping for user %s not found", user)
            return user
        return str(self.uid_mappings[user])

    def add_user(self, user: str) -> str:
        if user not in self.uid_mappings:
            raise FilterError(f"add_user: no uid known for user {user!r} (known_uid_mappings)")
        uid = self.uid_mappings[user]
        return (
            f"groupadd -o -g {uid} -r {user} && "
            f"useradd -l -o -r -m -d /var/lib/{user} -g {user} -u {uid} {user}"
        )


def has_numeric_user(dockerfile: str) -> bool:
    """True when the last ``USER`` line names a numeric uid (or there is none)."""
    numeric = True
    for line in dockerfile.split("\n"):
        if line.startswith("USER "):
            numeric = bool(_NUMERIC_USER.match(line))
    return numeric


def _last_user_line(dockerfile: str) -> int | None:
    last = None
    for number, line in enumerate(dockerfile.split("\n"), start=1):
        if line.startswith("USER "):
            last = number
    return last


class _DefinitionLoader(jinja2.FileSystemLoader):
    """Jinja's file loader, reading only regular UTF-8 files of bounded size (a FIFO or a
    binary file in a definitions tree must not hang or crash a render)."""

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        pieces = split_template_path(template)
        for folder in self.searchpath:
            path = Path(folder, *pieces)
            if not lexists(path):
                continue
            text = read_text(path, f"template {template}", DefinitionError)
            return text, str(path), _within_a_run  # a renderer lives for one run
        raise jinja2.TemplateNotFound(template)


class TemplateCache(jinja2.BytecodeCache):
    """Compiled templates: those of one tree kept between runs in one file, ``bundle``, so
    that a tree is parsed and compiled once, not on every command (one file, not one per
    template: on a slow disk, creating a file costs as much as compiling a template); and
    within a run, compiled once per distinct source: a snippet that every image folder
    includes, identical in each, is compiled for the first and reused, under its own file
    name, by the others.

    The compiled code depends on the template's source (Jinja checks it) and on the
    environment's settings and filter names (``salt``, part of every key), not on the run:
    our filters are never folded into it (:func:`_at_render_time`), so a version bump or
    another registry does not make a tree compile again. The bundle is a convenience: one
    that cannot be read or written is ignored.
    """

    def __init__(self, bundle: Path | None, salt: str):
        self.bundle = bundle
        self.salt = salt
        self._stored: dict[str, tuple[str, bytes]] | None = None  # key -> (file, bytecode)
        self._compiled_here: dict[str, tuple[str, bytes]] = {}
        self._files: dict[str, str] = {}  # bucket key -> template file
        self._compiled: dict[tuple[str, str], CodeType] = {}  # (name, source checksum)
        self._names: dict[str, tuple[str, str]] = {}  # bucket key -> (name, checksum)

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        key = hashlib.sha256(f"{self.salt}\0{name}\0{filename}".encode()).hexdigest()
        self._files[key] = filename or name
        return key

    def get_bucket(
        self, environment: jinja2.Environment, name: str, filename: str | None, source: str
    ) -> Bucket:
        bucket = super().get_bucket(environment, name, filename, source)
        same_source = (name, bucket.checksum)
        if bucket.code is not None:
            self._compiled.setdefault(same_source, bucket.code)
        elif same_source in self._compiled:
            bucket.code = _renamed(self._compiled[same_source], filename or name)
        else:
            self._names[bucket.key] = same_source
        return bucket

    def set_bucket(self, bucket: Bucket) -> None:
        same_source = self._names.pop(bucket.key, None)
        if same_source is not None and bucket.code is not None:
            self._compiled.setdefault(same_source, bucket.code)
        super().set_bucket(bucket)

    def load_bytecode(self, bucket: Bucket) -> None:
        stored = self._read().get(bucket.key)
        if stored is not None:
            try:
                bucket.bytecode_from_string(stored[1])  # resets the bucket for another source
            except (ValueError, EOFError, TypeError):  # damaged: compile again
                bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        entry = (self._files.get(bucket.key, ""), bucket.bytecode_to_string())
        self._compiled_here[bucket.key] = entry

    def holds(self, template: tuple[str, str]) -> bool:
        """Whether the bundle has code for ``(name, file)``, for this source or another."""
        return self.get_cache_key(*template) in self._read()

    def compiled_here(self) -> dict[str, tuple[str, bytes]]:
        """What this process compiled (or :meth:`adopt` brought) since the last keep."""
        return dict(self._compiled_here)

    def adopt(self, compiled: Mapping[str, tuple[str, bytes]]) -> None:
        """Templates compiled by another process of this run, found as if kept."""
        self._read().update(compiled)
        self._compiled_here.update(compiled)

    def keep(self) -> None:
        """Write the bundle when anything was compiled: what it held and what was compiled
        since, less the templates whose files are gone."""
        if self.bundle is None or not self._compiled_here:
            return
        entries = {**self._read(), **self._compiled_here}
        alive = {key: entry for key, entry in entries.items() if os.path.lexists(entry[0])}
        write_bytes(self.bundle, marshal.dumps(alive))
        self._compiled_here.clear()

    def _read(self) -> dict[str, tuple[str, bytes]]:
        if self._stored is None:
            self._stored = {}
            if self.bundle is not None:
                with contextlib.suppress(OSError, ValueError, EOFError, TypeError, AttributeError):
                    stored = marshal.loads(self.bundle.read_bytes())
                    self._stored = {k: v for k, v in stored.items() if _well_formed(k, v)}
        return self._stored


def _well_formed(key: object, entry: object) -> bool:
    return (
        isinstance(key, str)
        and isinstance(entry, tuple)
        and len(entry) == 2
        and isinstance(entry[0], str)
        and isinstance(entry[1], bytes)
    )


def _renamed(code: CodeType, filename: str) -> CodeType:
    """``code`` as if compiled from ``filename`` (its functions' code too): tracebacks, and
    the template lines reported from them, name the right file."""
    constants = tuple(
        _renamed(c, filename) if isinstance(c, CodeType) else c for c in code.co_consts
    )
    return code.replace(co_filename=filename, co_consts=constants)


def open_template_cache(folder: str | None, filters: Filters, tree: Path) -> TemplateCache:
    inputs = json.dumps([COMPILED_FORMAT, sorted(filters.as_dict())])
    salt = hashlib.sha256(inputs.encode()).hexdigest()
    if folder is not None:
        try:
            Path(folder).mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            log.info("Compiled templates are not kept: %s", exc)
        else:
            name = hashlib.sha256(f"{salt}\0{tree.resolve()}".encode()).hexdigest()
            return TemplateCache(Path(folder, f"{name}.bundle"), salt)
    return TemplateCache(None, salt)


def _within_a_run() -> bool:
    return True


class Renderer:
    """A Jinja environment for one run: its configuration, its known images, its filters."""

    def __init__(self, config: Config, known_images: Iterable[str], tree: Path = Path()):
        self.config = config
        self.filters = Filters(
            variables=config.template_vars,
            known_images=tuple(known_images),
            registry=config.registry,
            namespace=config.namespace,
            uid_mappings=config.known_uid_mappings,
        )
        self._cache = open_template_cache(config.template_cache, self.filters, tree)
        self._env = jinja2.Environment(
            extensions=["jinja2.ext.do"],
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            # The optimizer's constant folding costs more than it saves on templates
            # rendered once per run (and the output is the same).
            optimized=False,
            bytecode_cache=self._cache,
        )
        self._env.filters.update(self.filters.as_dict())
        # A template that draws random values renders differently each time: such a render
        # is not repeatable, and the scan cache must not keep it.
        self.repeatable = True
        self._env.filters["random"] = self._unrepeatable(self._env.filters["random"])
        lipsum = self._env.globals["lipsum"]
        assert callable(lipsum)
        self._env.globals["lipsum"] = self._unrepeatable(lipsum)

    def _unrepeatable(self, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)  # keeps Jinja's pass_environment mark
        def drawn(*args: Any, **kwargs: Any) -> Any:
            self.repeatable = False
            return function(*args, **kwargs)

        return drawn

    def render_file(self, definition: ImageDefinition, template_name: str) -> str:
        folder = definition.path
        env = self._env.overlay(loader=_DefinitionLoader(str(folder)))
        image = definition.short_name
        try:
            template = env.get_template(template_name)
            return template.render(**self.config.template_vars)
        except jinja2.TemplateSyntaxError as exc:
            where = Path(exc.filename) if exc.filename else folder / template_name
            raise TemplateError(
                exc.message or "syntax error", image=image, path=where, line=exc.lineno
            ) from None
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(
                f"template not found: {exc.name}", image=image, path=folder / template_name
            ) from None
        except DefinitionError as exc:  # an unreadable template or included file
            raise TemplateError(exc.message, image=image, path=exc.path, line=exc.line) from None
        except Exception as exc:  # noqa: BLE001 - template code can raise anything; reported with its line
            path, line = _template_frame(exc, folder / template_name)
            message = (
                str(exc)
                if isinstance(exc, FilterError | jinja2.UndefinedError)
                else (f"{type(exc).__name__}: {exc}")
            )
            raise TemplateError(message, image=image, path=path, line=line) from None

    def compile_ahead(self, definitions: Sequence[ImageDefinition]) -> None:
        """Compile the templates of ``definitions`` that were never kept compiled, half of
        them in a forked process (:mod:`docker_pkg.forked`), which hands them over: a tree
        seen for the first time compiles on two cores. Errors are the render's to report:
        a template that does not compile here is compiled again there, and so is one kept
        for an older source."""
        new = [d for d in definitions if not all(map(self._cache.holds, _template_files(d)))]
        for compiled in share_with_a_fork(new, self._compile)[1:]:
            self._cache.adopt(compiled)

    def _compile(self, definitions: Sequence[ImageDefinition]) -> dict[str, tuple[str, bytes]]:
        for definition in definitions:
            env = self._env.overlay(loader=_DefinitionLoader(str(definition.path)))
            for name in _template_names(definition):
                with contextlib.suppress(jinja2.TemplateError, DefinitionError):
                    env.get_template(name)
        return self._cache.compiled_here()

    def render(self, definition: ImageDefinition) -> Rendered:
        dockerfile = self.render_file(definition, TEMPLATE)
        if self.config.force_numeric_user and not has_numeric_user(dockerfile):
            raise NumericUserError(
                "the last USER instruction does not name a numeric uid (force_numeric_user is "
                'set); use e.g. USER {{ "www-data" | uid }}',
                image=definition.short_name,
                path=definition.path / TEMPLATE,
                line=_last_user_line(dockerfile),
            )
        build = self.render_file(definition, BUILD_TEMPLATE) if definition.has_build_stage else None
        return Rendered(definition, dockerfile, build)

    def render_each(
        self, definitions: Iterable[ImageDefinition]
    ) -> tuple[dict[str, Rendered], list[TemplateError]]:
        """Every definition that renders, and the errors of those that do not; the
        templates compiled ahead (:meth:`compile_ahead`) and kept for the next run."""
        definitions = list(definitions)
        self.compile_ahead(definitions)
        rendered: dict[str, Rendered] = {}
        errors: list[TemplateError] = []
        for definition in definitions:
            try:
                rendered[definition.short_name] = self.render(definition)
            except TemplateError as exc:
                errors.append(exc)
        self._cache.keep()
        return rendered, errors

    def render_all(self, definitions: Iterable[ImageDefinition]) -> dict[str, Rendered]:
        """Render every definition; all template errors are reported together."""
        rendered, errors = self.render_each(definitions)
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ManyErrors(errors)
        return rendered


def _template_names(definition: ImageDefinition) -> list[str]:
    return [TEMPLATE, BUILD_TEMPLATE] if definition.has_build_stage else [TEMPLATE]


def _template_files(definition: ImageDefinition) -> list[tuple[str, str]]:
    """(name, file) of each template of ``definition``, as its loader names them."""
    return [(name, str(definition.path / name)) for name in _template_names(definition)]


def _template_frame(exc: BaseException, default: Path) -> tuple[Path, int | None]:
    """The innermost template file and line in the traceback (Jinja rewrites its frames)."""
    found: tuple[Path, int | None] = (default, None)
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(str(default.parent) + "/"):
            found = (Path(frame.filename), frame.lineno)
    return found
