"""What a run keeps of each image while it works: its log, when each phase ran, the engine
that built it, the engines it was retried after, the inputs of a failed build
(``--keep-failed``), and the problems that fail nothing but are said at the end."""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

from docker_pkg.logs import ImageLog
from docker_pkg.running.model import ImageResult
from docker_pkg.tree.definitions import Rendered

log = logging.getLogger(__name__)


class RunRecords:
    """The records of one run, written from every worker thread."""

    def __init__(
        self,
        label: Callable[[str], str],
        log_dir: Path | None = None,
        redactor: logging.Filter | None = None,
        keep_failed: Path | None = None,
    ):
        self._label = label
        self.log_dir = log_dir
        self._redactor = redactor
        self.keep_failed = keep_failed
        self.warnings: list[str] = []
        self._logs: dict[str, ImageLog] = {}
        self._phases: dict[str, dict[str, tuple[datetime, datetime]]] = {}
        self._engines: dict[str, list[str]] = {}  # image -> engines that built it
        self._retries: dict[str, list[str]] = {}  # unit -> why it was tried again
        # image -> package count, digest, the packages it introduced
        self._inventories: dict[str, tuple[int, str, list[str]]] = {}
        self._logs_lost = False
        self._lock = threading.Lock()

    def image_logger(self, name: str) -> ImageLog:
        with self._lock:
            if name not in self._logs:
                path = self.log_dir / f"{name}.log" if self.log_dir else None
                self._logs[name] = ImageLog(
                    self._label(name), path, self._redactor, self._log_failed
                )
            return self._logs[name]

    def _log_failed(self, path: Path, error: BaseException) -> None:
        """A per-image log file cannot be written (disk full, read-only): the build goes on,
        and the run says so once."""
        with self._lock:
            if self._logs_lost:
                return
            self._logs_lost = True
            self.warnings.append(f"per-image build logs could not be written ({path}: {error})")
        log.warning("Per-image build logs could not be written (%s: %s)", path, error)

    def close_logs(self) -> None:
        for image_log in self._logs.values():
            image_log.close()

    @contextlib.contextmanager
    def phase(self, name: str, phase: str) -> Iterator[None]:
        """Record when ``phase`` of image ``name`` ran (also when it fails)."""
        started = datetime.now().astimezone()
        try:
            yield
        finally:
            self.record_phase(name, phase, started)

    def record_phase(self, name: str, phase: str, started: datetime) -> None:
        with self._lock:
            self._phases.setdefault(name, {})[phase] = (started, datetime.now().astimezone())

    def built_on(self, name: str, engine: str) -> None:
        with self._lock:
            self._engines.setdefault(name, []).append(engine)

    def last_engine(self, name: str) -> str | None:
        with self._lock:
            engines = self._engines.get(name)
            return engines[-1] if engines else None

    def retried(self, unit: str, why: str) -> None:
        with self._lock:
            self._retries.setdefault(unit, []).append(why)

    def inventory(
        self, name: str, packages: int, digest: str, warnings: Iterable[str], introduced: list[str]
    ) -> None:
        """The inventory taken of ``name`` (``introduced``: the packages it installed
        itself); what could not be read of it is said at the end."""
        label = self._label(name)
        with self._lock:
            self._inventories[name] = (packages, digest, introduced)
            self.warnings.extend(f"inventory of {label}: {w}" for w in warnings)

    def keep_inputs(self, name: str, rendered: Rendered) -> None:
        """With ``--keep-failed``: the rendered Dockerfiles beside the kept context tars."""
        if self.keep_failed is None:
            return
        folder = self.keep_failed / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "Dockerfile").write_text(rendered.dockerfile, "utf-8")
        if rendered.build_dockerfile is not None:
            (folder / "Dockerfile.build").write_text(rendered.build_dockerfile, "utf-8")

    def forget_inputs(self, name: str) -> None:
        """The image built: what ``--keep-failed`` kept of its attempts goes."""
        if self.keep_failed is not None:
            shutil.rmtree(self.keep_failed / name, ignore_errors=True)

    def fill(self, result: ImageResult, units: list[str], *, every_engine: bool = False) -> None:
        """Add to ``result`` its log file, phases, engine(s) and the retries of ``units``
        (the image, or its platforms' images)."""
        name = result.name
        with self._lock:
            if name in self._logs:
                result.log_file = self._logs[name].path
            result.phases.update(self._phases.get(name, {}))
            engines = self._engines.get(name, [])
            if every_engine:
                result.engine = ",".join(sorted(set(engines))) or None
            else:
                result.engine = engines[-1] if engines else None
            result.retries = [r for u in units for r in self._retries.get(u, [])]
            if name in self._inventories:
                result.packages, result.inventory, result.introduced = self._inventories[name]
