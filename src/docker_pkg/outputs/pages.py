"""Writing the run page: rewritten every few seconds while a build runs (the page reloads
itself, so a browser shows the run live), then once more, final, at the end."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def write_page(path: Path, document: Mapping[str, Any]) -> None:
    """Write the page for ``document`` atomically (a reloading browser never sees half)."""
    from docker_pkg.outputs.report_html import render_page

    text = render_page(document)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def live_page(
    path: Path | None, snapshot: Callable[[], Mapping[str, Any]], warn: Callable[[str], None]
) -> Iterator[None]:
    """While the block runs, rewrite the page at ``path`` every few seconds from
    ``snapshot()``; a page that cannot be written is said once and given up."""
    if path is None:
        yield
        return
    from docker_pkg.outputs.report_html import RELOAD_SECONDS

    stop = threading.Event()

    def refresh() -> None:
        while True:
            try:
                write_page(path, {**snapshot(), "live": True})
            except OSError as exc:
                warn(f"run page {path} not written ({exc})")
                return
            if stop.wait(RELOAD_SECONDS):
                return

    writer = threading.Thread(target=refresh, name="docker-pkg-page", daemon=True)
    writer.start()
    try:
        yield
    finally:
        stop.set()
        writer.join()
