"""Logging set-up: where the log goes (spec 4.7), and secrets kept out of it."""

from __future__ import annotations

import logging
from collections.abc import Iterable
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


class ImageLog(logging.LoggerAdapter[logging.Logger]):
    """Log lines about one image, each prefixed with its label (one build log, many images)."""

    def __init__(self, label: str):
        super().__init__(logging.getLogger("docker_pkg.image"), {"image": label})
        self.label = label

    def process(self, msg: object, kwargs: Any) -> tuple[object, Any]:
        return f"[{self.label}] {msg}", kwargs


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
        handler = logging.FileHandler(logfile, encoding="utf-8")
        root.setLevel(logging.INFO)
        used = logfile
    handler.setFormatter(logging.Formatter(LOG_FORMAT, DATE_FORMAT))
    redactor = RedactSecrets()
    handler.addFilter(redactor)
    root.addHandler(handler)
    # Library chatter (HTTP connections) stays out of the build log unless --debug.
    for noisy in ("urllib3", "docker"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
    return redactor, used
