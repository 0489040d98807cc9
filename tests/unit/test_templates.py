from __future__ import annotations

import logging
import marshal
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from docker_pkg.config.settings import Config, config_from_mapping, load_config
from docker_pkg.errors import ManyErrors, TemplateError
from docker_pkg.tree.templates import Filters, Renderer, has_numeric_user
from docker_pkg.tree.workspace import Workspace
from tests.helpers import write_image

COMPAT = Path(__file__).parent.parent / "data" / "compat"
# The reference glues the proxy line of apt_remove onto `apt-get update` with a stray
# backslash (spec 3, Fix); everything else must be byte-identical.
REFERENCE_APT_REMOVE_BUG = ("80_proxy  && \\apt-get update", "80_proxy \\\n    && apt-get update")


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every template Jinja compiles in this process, in order."""
    import jinja2

    names: list[str] = []
    real = jinja2.Environment.compile

    def counting(self: jinja2.Environment, source: str, *args: Any, **kwargs: Any) -> Any:
        names.append(args[0] if args else kwargs.get("name"))
        return real(self, source, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    return names


@pytest.mark.parametrize("config_name", ["config", "config-proxy", "config-plain"])
def test_rendered_dockerfiles_match_the_reference_byte_for_byte(
    config_name: str, isolated_home: Path
) -> None:
    """Expected files were made by docker-pkg 4.0.4 (scripts/reference_render.py). Every
    configuration shares one cache of compiled templates, and each is rendered twice: once
    compiled, once from the cache."""
    config = load_config(COMPAT / f"{config_name}.yaml", {"HOME": str(isolated_home)})
    workspace = Workspace.load(COMPAT, config)
    first = workspace.renderer().render_all(workspace.definitions.values())
    rendered = workspace.renderer().render_all(workspace.definitions.values())
    assert {n: r.dockerfile for n, r in first.items()} == {
        n: r.dockerfile for n, r in rendered.items()
    }
    assert any((isolated_home / ".cache" / "docker-pkg" / "templates").iterdir())
    expected_dir = COMPAT / f"expected-{config_name}"
    assert sorted(rendered) == sorted(p.stem for p in expected_dir.glob("*.Dockerfile"))
    for name, result in rendered.items():
        expected = (expected_dir / f"{name}.Dockerfile").read_text()
        expected = expected.replace(*REFERENCE_APT_REMOVE_BUG)
        assert result.dockerfile == expected, name


def filters(**values: object) -> Filters:
    config = config_from_mapping(values)
    return Renderer(config, values.get("known", ())).filters  # type: ignore[arg-type]


def test_apt_install_exact_text() -> None:
    assert filters(apt_options="-q").apt_install("a\nb c") == (
        "apt-get update -q \\\n"
        "    && DEBIAN_FRONTEND=noninteractive \\\n"
        "    apt-get install -q --yes a b c --no-install-recommends \\\n"
        "    && apt-get clean && rm -rf /var/lib/apt/lists/* "
    )


def test_apt_remove_with_proxy_is_fixed() -> None:
    assert filters(apt_only_proxy="http://p:1").apt_remove("vim") == (
        "echo 'Acquire::http::Proxy \"http://p:1\";' > /etc/apt/apt.conf.d/80_proxy \\\n"
        "    && apt-get update && DEBIAN_FRONTEND=noninteractive apt-get remove --yes --purge "
        "vim \\\n"
        "    && rm -f /etc/apt/apt.conf.d/80_proxy \\\n"
        "    && apt-get clean && rm -rf /var/lib/apt/lists/* "
    )


def test_image_tag_works_with_a_registry_port() -> None:
    f = filters(
        registry="localhost:5000",
        namespace="ns",
        known=("localhost:5000/ns/base:1.0-2", "localhost:5000/ns/other:3"),
    )
    assert f.image_tag("base") == "localhost:5000/ns/base:1.0-2"
    assert f.upstream_version("localhost:5000/ns/base:1.0-2") == "1.0"


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("r/x:1.2.3", "1.2.3"),
        ("r/x:1.2.3-4", "1.2.3"),
        ("r/x:1.63.0-1-20241211", "1.63.0"),
        ("r/x:2.0-s1", "2.0"),
    ],
)
def test_upstream_version(label: str, expected: str) -> None:
    assert Filters.upstream_version(label) == expected


def test_uid_and_add_user(caplog: pytest.LogCaptureFixture) -> None:
    f = filters(known_uid_mappings={"www-data": 33, "app": 900})
    assert f.uid("www-data") == "33"
    with caplog.at_level(logging.WARNING):
        assert f.uid("stranger") == "stranger"
    assert "UID mapping for user stranger not found" in caplog.text
    assert f.add_user("app") == (
        "groupadd -o -g 900 -r app && useradd -l -o -r -m -d /var/lib/app -g app -u 900 app"
    )


def test_numeric_user_check() -> None:
    assert has_numeric_user("FROM x\nRUN y\n")
    assert has_numeric_user("USER root\nUSER 33\n")
    assert has_numeric_user("USER 33:33")
    assert not has_numeric_user("USER 33\nUSER www-data\n")


def render_tree(tmp_path: Path, config: Config) -> dict[str, str]:
    workspace = Workspace.load(tmp_path, config)
    rendered = workspace.renderer().render_all(workspace.definitions.values())
    return {name: r.dockerfile for name, r in rendered.items()}


def test_includes_are_relative_to_the_image_folder_and_do_works(tmp_path: Path) -> None:
    write_image(
        tmp_path,
        "img",
        template='{% set l = [] %}{% do l.append("b") %}{% include "part.inc" %}\n{{ l[0] }}',
        files={"part.inc": "FROM scratch"},
    )
    assert render_tree(tmp_path, config_from_mapping({})) == {"img": "FROM scratch\nb"}


def test_every_template_error_is_reported_with_image_file_and_line(tmp_path: Path) -> None:
    write_image(tmp_path, "undef", template="FROM scratch\n\nRUN {{ nope }}\n")
    write_image(tmp_path, "unknown", template='FROM {{ "ghost" | image_tag }}\n')
    write_image(tmp_path, "syntax", template="FROM scratch\n{% if %}\n")
    write_image(tmp_path, "nouser", template='RUN {{ "bob" | add_user }}\n')
    write_image(tmp_path, "fine", template="FROM scratch\n")
    with pytest.raises(ManyErrors) as info:
        render_tree(tmp_path, config_from_mapping({}))
    errors = {e.image: e for e in info.value.errors if isinstance(e, TemplateError)}
    assert set(errors) == {"undef", "unknown", "syntax", "nouser"}
    assert errors["undef"].line == 3
    assert "'nope' is undefined" in str(errors["undef"])
    assert errors["undef"].path == tmp_path / "undef" / "Dockerfile.template"
    assert errors["unknown"].line == 1
    assert "ghost" in str(errors["unknown"])
    assert errors["syntax"].line == 2
    assert "bob" in str(errors["nouser"])


def test_error_in_an_include_names_the_included_file(tmp_path: Path) -> None:
    write_image(
        tmp_path, "img", template='FROM scratch\n{% include "inc" %}\n', files={"inc": "\n{{ x }}"}
    )
    with pytest.raises(TemplateError) as info:
        render_tree(tmp_path, config_from_mapping({}))
    assert info.value.path == tmp_path / "img" / "inc"
    assert info.value.line == 2


def test_force_numeric_user(tmp_path: Path) -> None:
    write_image(tmp_path, "img", template='FROM scratch\nUSER 0\nUSER {{ "x" | uid }}\n')
    with pytest.raises(TemplateError, match="numeric") as info:
        render_tree(tmp_path, config_from_mapping({"force_numeric_user": True}))
    assert info.value.line == 3
    assert render_tree(tmp_path, config_from_mapping({}))["img"].endswith("USER x")


def test_every_config_key_is_a_template_variable(tmp_path: Path) -> None:
    write_image(tmp_path, "img", template="{{ custom }} {{ registry }} {{ scan_workers }}")
    config = config_from_mapping({"custom": "yes", "registry": "r.example"})
    assert render_tree(tmp_path, config) == {"img": "yes r.example 8"}


def test_build_stage_template_is_rendered_too(tmp_path: Path) -> None:
    write_image(
        tmp_path, "img", files={"Dockerfile.build.template": "FROM {{ 'img' | image_tag }}"}
    )
    workspace = Workspace.load(tmp_path, config_from_mapping({}))
    rendered = workspace.renderer().render(workspace.definitions["img"])
    assert rendered.build_dockerfile == "FROM img:1.0.0"


def test_a_damaged_template_cache_is_compiled_again(tmp_path: Path) -> None:
    write_image(tmp_path / "defs", "img", template="FROM scratch\nLABEL x={{ 1 + 1 }}\n")
    cache = tmp_path / "cache"
    config = replace(config_from_mapping({}), template_cache=str(cache))
    workspace = Workspace.load(tmp_path / "defs", config)
    assert workspace.renderer().render_all(workspace.definitions.values())["img"].dockerfile == (
        "FROM scratch\nLABEL x=2"
    )
    [entry] = cache.iterdir()
    for damage in (
        b"not a compiled template",
        marshal.dumps(["a", "list"]),
        marshal.dumps({"key": ("file", "text, not bytecode")}),
        entry.read_bytes()[:-40],
    ):
        entry.write_bytes(damage)
        again = workspace.renderer().render_all(workspace.definitions.values())
        assert again["img"].dockerfile == "FROM scratch\nLABEL x=2"


def test_a_partial_render_keeps_the_rest_compiled_and_gone_files_are_forgotten(
    tmp_path: Path, compiled: list[str]
) -> None:
    defs, cache = tmp_path / "defs", tmp_path / "cache"
    for name in ("one", "two", "three"):
        write_image(defs, name, template=f"FROM scratch\nLABEL name={name}\n")
    config = replace(config_from_mapping({}), template_cache=str(cache))

    def render(names: tuple[str, ...] | None = None) -> None:
        workspace = Workspace.load(defs, config)
        wanted = [d for n, d in workspace.definitions.items() if names is None or n in names]
        workspace.renderer().render_all(wanted)

    render()
    assert len(compiled) == 3
    (defs / "one" / "Dockerfile.template").write_text("FROM scratch\nLABEL name=first\n")
    render(("one",))  # compiles one, keeps the two others
    assert len(compiled) == 4
    render()
    assert len(compiled) == 4
    [bundle] = cache.iterdir()
    assert len(marshal.loads(bundle.read_bytes())) == 3
    shutil.rmtree(defs / "three")
    (defs / "two" / "Dockerfile.template").write_text("FROM scratch\nLABEL name=second\n")
    render()
    assert len(compiled) == 5
    assert sorted(Path(f).parent.name for f, _ in marshal.loads(bundle.read_bytes()).values()) == [
        "one",
        "two",
    ]


def test_the_template_cache_never_serves_one_configurations_output_to_another(
    tmp_path: Path,
) -> None:
    """A cache shared by two configurations gives each its own output."""
    defs = tmp_path / "defs"
    write_image(defs, "base")
    write_image(defs, "app", template='FROM {{ "base" | image_tag }}\n', depends=["base"])
    outputs = []
    for registry in ("one.example", "two.example", "one.example"):
        config = replace(
            config_from_mapping({"registry": registry}), template_cache=str(tmp_path / "cache")
        )
        workspace = Workspace.load(defs, config)
        rendered = workspace.renderer().render_all(workspace.definitions.values())
        outputs.append(rendered["app"].dockerfile)
    assert outputs == [
        "FROM one.example/base:1.0.0",
        "FROM two.example/base:1.0.0",
        "FROM one.example/base:1.0.0",
    ]


def test_compiled_templates_outlive_a_version_bump_and_warn_on_every_render(
    tmp_path: Path, compiled: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Our filters never run at compile time: code compiled for one tree serves the tree
    after a version bump, and a filter that warns warns on every render."""
    defs = tmp_path / "defs"
    template = 'FROM {{ "base" | image_tag }}\nUSER {{ "someone" | uid }}\n'
    write_image(defs, "app", template=template, depends=["base"])
    config = replace(config_from_mapping({}), template_cache=str(tmp_path / "cache"))
    outputs = []
    for version in ("1.0.0", "1.1.0"):
        write_image(defs, "base", version=version)
        caplog.clear()
        workspace = Workspace.load(defs, config)
        outputs.append(workspace.renderer().render_all([workspace.definitions["app"]]))
        assert "UID mapping for user someone not found" in caplog.text
    assert [o["app"].dockerfile for o in outputs] == [
        "FROM base:1.0.0\nUSER someone",
        "FROM base:1.1.0\nUSER someone",
    ]
    assert compiled == ["Dockerfile.template"]


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many definitions each render shares with a forked child (forking allowed even
    if the test runner keeps a thread of its own)."""
    from docker_pkg import forked
    from docker_pkg.tree import templates

    monkeypatch.setattr(forked, "can_fork", lambda: True)
    counts: list[int] = []
    real = templates.share_with_a_fork

    def counting(items: Any, work: Any) -> Any:
        counts.append(len(items))
        return real(items, work)

    monkeypatch.setattr(templates, "share_with_a_fork", counting)
    return counts


def _numbered_tree(defs: Path, broken: tuple[int, ...] = ()) -> int:
    from docker_pkg.forked import WORTH_A_FORK

    count = WORTH_A_FORK + 2
    for n in range(count):
        template = "FROM scratch\n{% if %}\n" if n in broken else f"LABEL n={{{{ {n} * 2 }}}}\n"
        write_image(defs, f"img{n:02d}", template=template)
    return count


def test_a_new_tree_compiles_half_its_templates_in_a_forked_child(
    tmp_path: Path, compiled: list[str], shared: list[int]
) -> None:
    """The render finds the child's half compiled, renders what a render without a cache
    does, and keeps both halves: the next run forks for nothing."""
    defs, cache = tmp_path / "defs", tmp_path / "cache"
    count = _numbered_tree(defs)
    config = replace(config_from_mapping({}), template_cache=str(cache))
    workspace = Workspace.load(defs, config)
    rendered = workspace.renderer().render_all(workspace.definitions.values())
    assert {n: r.dockerfile for n, r in rendered.items()} == {
        f"img{n:02d}": f"LABEL n={n * 2}" for n in range(count)
    }
    assert shared == [count]
    assert len(compiled) == count // 2  # the others, by the child
    assert len(list(cache.iterdir())) == 1  # one file for the tree, with the child's half

    changelog = defs / "img00" / "changelog"
    changelog.write_text(changelog.read_text().replace("1.0.0", "2.0.0", 1))
    again = Workspace.load(defs, config)  # a version bumped: the templates are as they were
    assert again.renderer().render_all(again.definitions.values())
    assert shared == [count, 0]
    assert len(compiled) == count // 2


def test_a_new_tree_reports_the_broken_templates_of_either_half(
    tmp_path: Path, shared: list[int]
) -> None:
    defs = tmp_path / "defs"
    count = _numbered_tree(defs, broken=(0, 1))  # the first goes to the child, not the second
    workspace = Workspace.load(defs, replace(config_from_mapping({}), template_cache=None))
    with pytest.raises(ManyErrors) as info:
        workspace.renderer().render_all(workspace.definitions.values())
    assert shared == [count]
    assert sorted((e.path, e.line) for e in info.value.errors) == [
        (defs / f"img{n:02d}" / "Dockerfile.template", 2) for n in (0, 1)
    ]


@pytest.mark.parametrize("kept", [True, False])
def test_a_snippet_shared_by_every_image_is_compiled_once_and_reports_its_own_file(
    tmp_path: Path, compiled: list[str], kept: bool
) -> None:
    defs = tmp_path / "defs"
    snippet = 'RUN echo {{ "x" | upper }}\n{% if fail %}{{ "nowhere" | image_tag }}{% endif %}\n'
    for name in ("one", "two", "three"):
        write_image(
            defs,
            name,
            template='FROM scratch\n{% include "snippet.j2" %}\n',
            files={"snippet.j2": snippet},
        )
    folder = str(tmp_path / "cache") if kept else None
    config = replace(config_from_mapping({"fail": False}), template_cache=folder)
    workspace = Workspace.load(defs, config)
    rendered = workspace.renderer().render_all(workspace.definitions.values())
    assert {n: r.dockerfile for n, r in rendered.items()} == dict.fromkeys(
        ("one", "two", "three"), "FROM scratch\nRUN echo X\n"
    )
    assert compiled.count("snippet.j2") == 1
    assert compiled.count("Dockerfile.template") == 1  # the same source in every folder

    failing = replace(config, template_vars={**config.template_vars, "fail": True})
    with pytest.raises(ManyErrors) as info:
        Workspace.load(defs, failing).renderer().render_all(workspace.definitions.values())
    places = sorted((e.path, e.line) for e in info.value.errors)
    assert places == sorted((defs / n / "snippet.j2", 2) for n in ("one", "two", "three"))
