"""Logging set-up: where the log goes (spec 4.7), and secrets kept out of it."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

LOG_FORMAT = "%(asctime)s [docker-pkg-build] %(levelname)s - %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_LOGFILE = Path("docker-pkg-build.log")
REDACTED = "********"


class RedactSecrets(logging.Filter):
    """Replace every known secret in a record's final message before any handler sees it."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets: list[str] = [s for s in secrets if s]

    def add(self, secret: str | None) -> None:
        if secret and secret not in self.secrets:
            self.secrets.append(secret)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            redacted = self.redact(message)
            if redacted != message:
                record.msg, record.args = redacted, None
        return True


IMAGE_FORMAT = "%(asctime)s %(levelname)s %(message)s"


class _Unprefixed(logging.Formatter):
    """The per-image file needs no ``[label]`` prefix: strip it."""

    def __init__(self, prefix: str):
        super().__init__(IMAGE_FORMAT, DATE_FORMAT)
        self._prefix = prefix

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = record.message
        if message.startswith(self._prefix):
            record.message = message[len(self._prefix) :]
        try:
            return super().formatMessage(record)
        finally:
            record.message = message


LogFailure = Callable[[Path, BaseException], None]


class _ImageFileHandler(logging.FileHandler):
    """A per-image log file that, once it cannot be written (disk full, read-only folder),
    stops trying and reports that once instead of printing a traceback per line."""

    def __init__(self, path: Path, on_failure: LogFailure | None):
        super().__init__(path, encoding="utf-8", delay=True)
        self._on_failure = on_failure
        self._broken = False

    def emit(self, record: logging.LogRecord) -> None:
        if self._broken:
            return
        try:
            super().emit(record)  # opening the file (delayed) happens here, unguarded
        except OSError as exc:
            self._fail(exc)

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        self._fail(error if error is not None else OSError("cannot write"))

    def _fail(self, error: BaseException) -> None:
        self._broken = True
        with contextlib.suppress(OSError):
            self.close()
        if self._on_failure is not None:
            self._on_failure(Path(self.baseFilename), error)


class ImageLog(logging.LoggerAdapter[logging.Logger]):
    """Log lines about one image: in the run's log prefixed with its label, and (with a
    ``path``) in a file of its own, so parallel builds never interleave there."""

    def __init__(
        self,
        label: str,
        path: Path | None = None,
        redactor: logging.Filter | None = None,
        on_failure: LogFailure | None = None,
    ):
        parent = logging.getLogger("docker_pkg.image")
        logger = parent
        self._handler: logging.Handler | None = None
        if path is not None:
            # A logger of its own, outside the registry of named loggers, that still hands
            # every record on to the run's log.
            logger = logging.Logger(f"docker_pkg.image.{path.stem}", logging.DEBUG)
            logger.parent = parent
            self._handler = _ImageFileHandler(path, on_failure)
            self._handler.setFormatter(_Unprefixed(f"[{label}] "))
            logger.addHandler(self._handler)
            if redactor is not None:
                logger.addFilter(redactor)
        super().__init__(logger, {"image": label})
        self.label = label
        self.path = path

    def process(self, msg: object, kwargs: Any) -> tuple[object, Any]:
        return f"[{self.label}] {msg}", kwargs

    def close(self) -> None:
        if self._handler is not None:
            self.logger.removeHandler(self._handler)
            self._handler.close()


def setup_logging(
    level: str | None, logfile: Path | None = DEFAULT_LOGFILE
) -> tuple[RedactSecrets, Path | None]:
    """``--debug``/``--info`` log to the terminal; otherwise INFO goes to ``logfile`` (or,
    with no log file, warnings to the terminal).

    Returns the redaction filter (to which secrets are added once known) and the log file
    used, if any.
    """
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    handler: logging.Handler
    used: Path | None
    if level in ("debug", "info"):
        handler = logging.StreamHandler()
        root.setLevel(logging.DEBUG if level == "debug" else logging.INFO)
        used = None
    elif logfile is None:
        handler = logging.StreamHandler()
        root.setLevel(logging.WARNING)
        used = None
    else:
        try:
            handler = logging.FileHandler(logfile, encoding="utf-8")
            root.setLevel(logging.INFO)
            used = logfile
        except OSError as exc:
            print(
                f"docker-pkg: warning: cannot write the log file {logfile} ({exc.strerror}); "
                "warnings go to the terminal instead",
                file=sys.stderr,
            )
            handler = logging.StreamHandler()
            root.setLevel(logging.WARNING)
            used = None
    handler.setFormatter(logging.Formatter(LOG_FORMAT, DATE_FORMAT))
    # Records reach handlers through propagation too: the handler filters by level itself.
    handler.setLevel(root.level)
    redactor = RedactSecrets()
    handler.addFilter(redactor)
    root.addHandler(handler)
    # Library chatter (HTTP connections) stays out of the build log unless --debug.
    for noisy in ("urllib3", "docker"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
    return redactor, used
