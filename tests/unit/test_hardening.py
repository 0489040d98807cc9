"""Small pieces of the hardening: the build lock, per-image logs that cannot be written,
time limits in the configuration, and verification past its limit."""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path

import pytest

from docker_pkg.config.settings import config_from_mapping
from docker_pkg.errors import ConfigError, VerifyError
from docker_pkg.logs import ImageLog
from docker_pkg.running.lock import Busy, RunLock
from docker_pkg.running.verify import run_verification


def test_a_held_lock_refuses_without_waiting_and_names_the_holder(tmp_path: Path) -> None:
    said: list[str] = []
    first = RunLock(tmp_path / "locks", tmp_path / "tree", "unix:///e.sock")
    other = RunLock(tmp_path / "locks", tmp_path / "tree", "unix:///e.sock", wait=False)
    elsewhere = RunLock(tmp_path / "locks", tmp_path / "tree", "unix:///other.sock", wait=False)
    with first.held(said.append):
        busy = pytest.raises(Busy, match=r"another docker-pkg build \(pid \d+, since")
        with busy as info, other.held(said.append):
            pass
        assert info.value.exit_status == 75
        with elsewhere.held(said.append):  # another engine: another lock
            pass
    with other.held(said.append):  # released on leaving
        pass
    assert said == []


def test_a_waiting_run_says_so_and_goes_on_when_the_lock_is_released(tmp_path: Path) -> None:
    said: list[str] = []
    first = RunLock(tmp_path, tmp_path / "tree", "e")
    second = RunLock(tmp_path, tmp_path / "tree", "e")
    entered = threading.Event()

    def hold() -> None:
        with first.held(said.append):
            entered.set()
            time.sleep(0.5)

    holder = threading.Thread(target=hold)
    holder.start()
    entered.wait()
    started = time.monotonic()
    with second.held(said.append):
        waited = time.monotonic() - started
    holder.join()
    assert waited >= 0.3
    assert said[0].startswith("Waiting for another docker-pkg build (pid")
    assert said[1] == "The other build finished; going on"


def test_an_unwritable_lock_folder_is_a_warning(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    said: list[str] = []
    with RunLock(blocker / "locks", tmp_path, "e").held(said.append):
        pass
    assert len(said) == 1
    assert said[0].startswith(" WARNING: running without the build lock")


def test_a_per_image_log_that_cannot_be_written_is_reported_once(tmp_path: Path) -> None:
    failures: list[tuple[Path, BaseException]] = []
    path = tmp_path / "gone" / "app.log"
    image_log = ImageLog("reg/app:1", path, None, lambda p, e: failures.append((p, e)))
    for number in range(3):
        image_log.info("line %d", number)
    image_log.close()
    assert [p for p, _ in failures] == [path]
    assert isinstance(failures[0][1], OSError)


def test_time_limits_in_the_configuration() -> None:
    default = config_from_mapping({})
    assert (default.build_timeout, default.verify_timeout) == (14400.0, 3600.0)
    off = config_from_mapping({"build_timeout": 0, "verify_timeout": None})
    assert (off.build_timeout, off.verify_timeout) == (None, None)
    assert config_from_mapping({"build_timeout": 90}).build_timeout == 90.0
    for bad in ("an hour", -1, True, [5]):
        with pytest.raises(ConfigError, match="build_timeout: expected a number of seconds"):
            config_from_mapping({"build_timeout": bad})


def test_verification_past_its_limit_is_killed_and_cleaned_up(tmp_path: Path) -> None:
    marker = tmp_path / "still-running"
    script = (
        "import time, pathlib\nprint('started', flush=True)\ntime.sleep(30)\n"
        f"pathlib.Path({str(marker)!r}).write_text('x')\n"
    )
    cleaned: list[bool] = []

    def clean_up() -> str:
        cleaned.append(True)
        return "; removed 2 container(s) it started"

    started = time.monotonic()
    with pytest.raises(VerifyError) as info:
        run_verification(
            [sys.executable, "-c", script],
            {"PATH": "/usr/bin:/bin"},
            logging.getLogger("t"),
            timeout=0.5,
            on_timeout=clean_up,
        )
    assert time.monotonic() - started < 10
    assert str(info.value) == (
        "stopped: verification took longer than verify_timeout (0.5s); "
        "removed 2 container(s) it started"
    )
    assert cleaned == [True]
    assert not marker.exists()
