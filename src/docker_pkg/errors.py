"""The exception family of docker-pkg.

Every error a user can cause or meet carries a message meant for them; only the CLI turns
these into text and exit statuses. ``UsageError`` and its kind (bad definitions, config,
templates) exit 2 and are raised before anything is built or changed; ``OperationError``
and its kind (engine, registry, build, verification) fail single images and exit 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class DockerPkgError(Exception):
    """Base of every error docker-pkg reports to its user."""

    exit_status = 1

    def __init__(self, message: str, *, path: Path | str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = Path(path) if path is not None else None
        self.line = line

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{where}: {self.message}"


class UsageError(DockerPkgError):
    """The invocation, configuration or definitions are wrong: nothing was done."""

    exit_status = 2


class ConfigError(UsageError):
    """The configuration file is missing, unreadable or holds a bad value."""


class DefinitionError(UsageError):
    """An image definition (changelog, control, folder layout) is wrong."""


class DependencyError(UsageError):
    """Dependencies name unknown images or form a cycle."""


class TemplateError(UsageError):
    """A Dockerfile template cannot be rendered."""

    def __init__(
        self,
        message: str,
        *,
        image: str,
        path: Path | str | None = None,
        line: int | None = None,
    ):
        super().__init__(f"{image}: {message}", path=path, line=line)
        self.image = image


class NumericUserError(TemplateError):
    """The last ``USER`` is not numeric while ``force_numeric_user`` is set."""


class ManyErrors(UsageError):
    """Several usage errors found together, reported at once (e.g. every broken template)."""

    def __init__(self, errors: Sequence[UsageError]):
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = list(errors)


class OperationError(DockerPkgError):
    """Something failed while acting on an engine or a registry."""

    # True for failures after which no new work may start (the engine is gone).
    stops_run = False


class EngineError(OperationError):
    """The Docker engine refused a request or cannot be reached."""


class EngineLost(EngineError):
    """The connection to the engine broke or was refused: the daemon is gone. ``address``
    names the engine, when known (a move between two engines can lose either)."""

    stops_run = True

    def __init__(self, message: str, address: str | None = None):
        super().__init__(message)
        self.address = address


class BuildError(OperationError):
    """An image failed to build."""


class VerifyError(OperationError):
    """An image failed its verification."""


class RegistryError(OperationError):
    """A registry cannot be reached or refused a request."""


class RegistryAnswerError(RegistryError):
    """A registry answered one request with a server error, again and again (e.g. a tag
    left broken by a registry killed while writing it): about that request's image, not
    necessarily about the registry."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class ArchiveError(OperationError):
    """An apt source's indexes could not be fetched, or did not check (signature, hash)."""


class PublishError(OperationError):
    """An image could not be pushed."""


class Cancelled(OperationError):
    """The run was interrupted (Ctrl-C or SIGTERM); work in progress was stopped."""

    exit_status = 130
