from __future__ import annotations

from pathlib import Path

import pytest

from docker_pkg.config.settings import DEFAULTS, config_from_mapping, load_config, user_config_path
from docker_pkg.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_fill_every_reference_key(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "c.yaml", ""), {"HOME": str(tmp_path)})
    assert dict(config.template_vars) == dict(DEFAULTS)
    assert config.registry == ""
    assert config.scan_workers == 8
    assert config.verify_command == "/bin/bash"
    assert config.verify_args == ("-c", "{path}/test.sh {image}")
    assert config.known_uid_mappings == {"root": 0, "www-data": 33, "nobody": 65534}
    assert config.network_mode is None


def test_configfile_wins_over_user_file_and_unknown_keys_are_template_vars(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    write(tmp_path / "xdg" / "docker-pkg.yaml", "registry: user.example\nnamespace: mine\nfoo: 1\n")
    config = load_config(write(tmp_path / "c.yaml", "registry: local.example\nbar: two\n"), env)
    assert config.registry == "local.example"
    assert config.namespace == "mine"
    assert config.template_vars["foo"] == 1
    assert config.template_vars["bar"] == "two"


def test_user_file_falls_back_to_home_config(tmp_path: Path) -> None:
    assert user_config_path({"HOME": "/h"}) == Path("/h/.config/docker-pkg.yaml")
    assert user_config_path({"HOME": "/h", "XDG_CONFIG_HOME": "/x"}) == Path("/x/docker-pkg.yaml")


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found") as info:
        load_config(tmp_path / "nope.yaml", {})
    assert info.value.path == tmp_path / "nope.yaml"
    assert info.value.exit_status == 2


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "registry: a\nnamespace: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert info.value.path == path
    assert info.value.line is not None
    assert str(path) in str(info.value)


def test_http_proxy_is_the_apt_proxy_unless_one_is_given(tmp_path: Path) -> None:
    config = config_from_mapping({"http_proxy": "http://127.0.0.1:3128"})
    assert config.template_vars["apt_only_proxy"] == "http://127.0.0.1:3128"
    assert config.proxy_build_args == {
        "http_proxy": "http://127.0.0.1:3128",
        "https_proxy": "http://127.0.0.1:3128",
        "HTTP_PROXY": "http://127.0.0.1:3128",
        "HTTPS_PROXY": "http://127.0.0.1:3128",
    }
    other = config_from_mapping({"http_proxy": "http://a:1", "apt_only_proxy": "http://b:2"})
    assert other.template_vars["apt_only_proxy"] == "http://b:2"


def test_container_limits_are_parsed() -> None:
    config = config_from_mapping({"container_limits": "memory=1g,cpushares=512"})
    assert config.container_limits == {"memory": "1g", "cpushares": "512"}


def test_unknown_container_limit_key_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "registry: r\ncontainer_limits: memory=1g,cpus=2\n")
    with pytest.raises(ConfigError, match="unknown key 'cpus'") as info:
        load_config(path, {})
    assert info.value.line == 2


def test_malformed_container_limit_is_rejected() -> None:
    with pytest.raises(ConfigError, match="key=value"):
        config_from_mapping({"container_limits": "memory"})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"scan_workers": 0}, "scan_workers"),
        ({"scan_workers": "many"}, "scan_workers"),
        ({"base_images": "reg/img:1"}, "base_images"),
        ({"verify_args": ["-c", 3]}, "verify_args"),
        ({"known_uid_mappings": {"app": "x"}}, "known_uid_mappings"),
    ],
)
def test_bad_values_are_rejected(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_mapping(values)


def test_non_mapping_config_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mapping"):
        load_config(write(tmp_path / "c.yaml", "- a\n- b\n"), {})


def test_password_is_not_in_repr() -> None:
    config = config_from_mapping({"username": "u", "password": "s3cr3t-pw", "registry": "r"})
    assert "s3cr3t-pw" not in repr(config)
    assert config.secrets() == ["s3cr3t-pw"]


def _load_noting_parses(
    path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[object, int]:
    import docker_pkg.config.yaml_file as parser

    parsed = []
    real = parser.parse_mapping

    def counting(text: str, where: Path) -> object:
        parsed.append(where)
        return real(text, where)

    with monkeypatch.context() as patch:
        patch.setattr(parser, "parse_mapping", counting)
        config = load_config(path, env)
    return config, len(parsed)


def test_a_configuration_parsed_once_comes_from_the_cache_until_a_byte_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    path = tmp_path / "config.yaml"
    path.write_text("registry: reg.example\nnamespace: team\nmirrors: [a, b]\nlimit: 1.5\n")
    first, parsed = _load_noting_parses(path, env, monkeypatch)
    assert parsed == 1
    again, parsed = _load_noting_parses(path, env, monkeypatch)
    assert parsed == 0
    assert again == first
    path.write_text("registry: reg.example\nnamespace: team2\nmirrors: [a, b]\nlimit: 1.5\n")
    changed, parsed = _load_noting_parses(path, env, monkeypatch)
    assert parsed == 1
    assert changed.namespace == "team2"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "line",
    [
        "password: Pw-1-plain",
        "password: 'Pw-1-single'",
        'password: "Pw-1-double"  # a comment',
        "{registry: reg.example, password: Pw-1-flow}",
    ],
)
def test_a_kept_configuration_holds_no_password_and_reads_it_from_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str
) -> None:
    env = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    path = tmp_path / "config.yaml"
    body = line if line.startswith("{") else f"registry: reg.example\nusername: u\n{line}"
    path.write_text(body + "\n")
    first, parsed = _load_noting_parses(path, env, monkeypatch)
    again, parsed_again = _load_noting_parses(path, env, monkeypatch)
    assert (parsed, parsed_again) == (1, 0)
    assert first.password.startswith("Pw-1-")  # type: ignore[attr-defined]
    assert again == first
    kept = list((tmp_path / "cache").rglob("*.json"))
    assert kept
    assert not [k for k in kept if b"Pw-1-" in k.read_bytes()]


@pytest.mark.parametrize(
    "text",
    [
        'password: "Pw-\\x41-escaped"\n',  # the file does not hold the value as it is
        "password: >\n  Pw-folded\n  over lines\n",
        "password: 12345\n",  # not a string
    ],
)
def test_a_password_not_written_as_it_is_keeps_its_configuration_out_of_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    env = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    path = tmp_path / "config.yaml"
    path.write_text("registry: reg.example\nusername: u\n" + text)
    for _ in range(2):
        _, parsed = _load_noting_parses(path, env, monkeypatch)
        assert parsed == 1
    assert not list((tmp_path / "cache").rglob("*.json"))


@pytest.mark.parametrize(
    "text",
    [
        "registry: reg.example\nrelease: 2026-11-30\n",  # a date
        "registry: reg.example\nports: {8080: web}\n",  # an integer key
    ],
)
def test_what_json_cannot_hold_is_parsed_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    env = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    path = tmp_path / "config.yaml"
    path.write_text(text)
    for _ in range(2):
        config, parsed = _load_noting_parses(path, env, monkeypatch)
        assert parsed == 1
        assert config.registry == "reg.example"  # type: ignore[attr-defined]


def test_errors_are_never_kept_and_a_damaged_cache_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    path = tmp_path / "config.yaml"
    path.write_text("registry: reg.example\nregistry: twice\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match="duplicate key 'registry'"):
            load_config(path, env)
    path.write_text("registry: reg.example\n")
    load_config(path, env)
    for kept in (tmp_path / "cache" / "docker-pkg" / "configs").iterdir():
        kept.write_text('{"data": [1, 2]}')
    config, parsed = _load_noting_parses(path, env, monkeypatch)
    assert parsed == 1
    assert config.registry == "reg.example"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("arg", "problem"),
    [
        ("test ! -e ${HOME##*/}", "names {HOME##*/}"),
        ("{path}/test.sh {label}", "names {label}"),
        ('echo "unbalanced {image}', "No closing quotation"),
        ("echo {", "Single '{'"),
    ],
)
def test_verify_args_that_cannot_be_formatted_are_a_config_error(arg: str, problem: str) -> None:
    with pytest.raises(ConfigError, match="verify_args") as info:
        config_from_mapping({"verify_args": ["-c", arg]})
    assert problem in str(info.value)


def test_verify_args_with_escaped_braces_are_fine() -> None:
    config = config_from_mapping({"verify_args": ["-c", "test -n ${{HOME}} && {path}/t {image}"]})
    assert config.verify_args[1] == "test -n ${{HOME}} && {path}/t {image}"
