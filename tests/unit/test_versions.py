from __future__ import annotations

from datetime import date

import pytest

from docker_pkg.tree.versions import (
    Scheme,
    check_new_version,
    next_counter_version,
    next_date_version,
    next_version,
)

TODAY = date(2026, 8, 16)


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ("0.0.1", "0.0.1-s1"),
        ("0.0.1-s1", "0.0.1-s2"),
        ("0.0.1-s9", "0.0.1-s10"),
        ("1.0.0-1", "1.0.0-1-s1"),
        ("1.0.0-1-s3", "1.0.0-1-s4"),
        ("2.0-sec1", "2.0-sec1-s1"),
    ],
)
def test_counter_versions(current: str, expected: str) -> None:
    assert next_counter_version(current, "s") == expected


def test_counter_uses_update_id() -> None:
    assert next_counter_version("1.0-u4", "u") == "1.0-u5"


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ("1.94.1-3-20260809", "1.94.1-3-20260816"),
        ("1.94.1-3", "1.94.1-3-20260816"),
        ("7.0", "7.0-20260816"),
    ],
)
def test_date_versions(current: str, expected: str) -> None:
    assert next_date_version(current, TODAY) == expected
    assert next_version(current, Scheme.DATE, "s", TODAY) == expected


def test_checks() -> None:
    assert check_new_version("1.0", "1.0-s1") is None
    assert "not greater" in (check_new_version("1.0-s2", "1.0-s1") or "")
    assert "not greater" in (check_new_version("1.0-20260816", "1.0-20260816") or "")
    assert "Docker tag" in (check_new_version("1.0", "1.1~rc1") or "")
    assert "Docker tag" in (check_new_version("1.0", "2:1.0") or "")
