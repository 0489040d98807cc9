from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from docker_pkg.errors import VerifyError
from docker_pkg.running.verify import run_verification, verify_argv, verify_environment

ARGS = ("-c", "{path}/test.sh {image}")


def test_missing_test_script_skips_verification(tmp_path: Path) -> None:
    assert verify_argv("/bin/bash", ARGS, tmp_path, "reg/img:1") is None


def test_argv_is_formatted_with_path_and_image(tmp_path: Path) -> None:
    (tmp_path / "test.sh").write_text("exit 0\n")
    assert verify_argv("/bin/bash", ARGS, tmp_path, "reg/img:1") == [
        "/bin/bash",
        "-c",
        f"{tmp_path}/test.sh reg/img:1",
    ]


def test_environment_is_only_path_proxies_and_the_engine() -> None:
    env = verify_environment(
        {"PATH": "/bin", "HOME": "/root", "SECRET": "x"}, {"http_proxy": "p"}, "unix:///s"
    )
    assert env == {"PATH": "/bin", "http_proxy": "p", "DOCKER_HOST": "unix:///s"}


def test_failure_carries_exit_status_and_last_output(caplog: pytest.LogCaptureFixture) -> None:
    argv = [sys.executable, "-c", "print('checking'); print('broken!'); raise SystemExit(3)"]
    with caplog.at_level(logging.INFO), pytest.raises(VerifyError, match="exit status 3") as info:
        run_verification(argv, {"PATH": "/usr/bin:/bin"}, logging.getLogger("t"))
    assert "broken!" in str(info.value)
    assert "verify: checking" in caplog.text


def test_success_and_missing_command() -> None:
    run_verification([sys.executable, "-c", "pass"], {"PATH": "/usr/bin"}, logging.getLogger("t"))
    with pytest.raises(VerifyError, match="not found"):
        run_verification(["/no/such/cmd"], {"PATH": "/usr/bin"}, logging.getLogger("t"))
