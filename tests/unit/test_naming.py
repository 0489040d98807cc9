from __future__ import annotations

from datetime import datetime

import pytest

from docker_pkg.naming import full_name, is_valid_tag, split_label, tag_suffix


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("reg.example", "ns", "img"), "reg.example/ns/img"),
        (("reg.example", "", "img"), "reg.example/img"),
        (("", "ns", "img"), "ns/img"),
        (("", "", "img"), "img"),
        (("localhost:5000", "a/b", "img"), "localhost:5000/a/b/img"),
    ],
)
def test_full_name_joins_non_empty_parts(parts: tuple[str, str, str], expected: str) -> None:
    assert full_name(*parts) == expected


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("reg/img:1.0", ("reg/img", "1.0")),
        ("localhost:5000/img:1.0", ("localhost:5000/img", "1.0")),
        ("localhost:5000/img", ("localhost:5000/img", "")),
        ("img", ("img", "")),
    ],
)
def test_split_label_respects_registry_ports(label: str, expected: tuple[str, str]) -> None:
    assert split_label(label) == expected


def test_tag_suffixes() -> None:
    now = datetime(2026, 11, 29, 7, 5, 9)
    assert tag_suffix(None, now) == ""
    assert tag_suffix("nightly", now) == "-20261129"
    assert tag_suffix("snapshot", now) == "-20261129-070509"


@pytest.mark.parametrize("tag", ["1.0", "1.0-1-s2", "_x", "A.b-C_d", "a" * 128])
def test_valid_tags(tag: str) -> None:
    assert is_valid_tag(tag)


@pytest.mark.parametrize("tag", ["1.0~rc1", "1:2.0", "-1", ".1", "a" * 129, "", "1+b"])
def test_invalid_tags(tag: str) -> None:
    assert not is_valid_tag(tag)
