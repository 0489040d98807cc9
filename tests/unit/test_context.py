from __future__ import annotations

import io
import tarfile
from pathlib import Path

from docker_pkg.tree.context import context_files, read_dockerignore, stream_context


def make_tree(root: Path, files: list[str]) -> None:
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)


def test_dockerignore_follows_docker_semantics(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        [
            "keep.txt",
            "a.log",
            "sub/b.log",
            "sub/deep/c.log",
            "sub/important.log",
            "docs/x.md",
            "Dockerfile.template",
        ],
    )
    (tmp_path / ".dockerignore").write_text(
        "# comment\n\n**/*.log\n!sub/important.log\n/docs\n  \n"
    )
    assert read_dockerignore(tmp_path) == ["**/*.log", "!sub/important.log", "docs"]
    files = {f for f in context_files(tmp_path) if (tmp_path / f).is_file()}
    assert files == {".dockerignore", "Dockerfile.template", "keep.txt", "sub/important.log"}


def test_stream_is_a_gnu_tar_with_the_rendered_dockerfile(tmp_path: Path) -> None:
    make_tree(tmp_path, ["Dockerfile", "app/run.sh"])
    (tmp_path / "app" / "run.sh").chmod(0o755)
    data = b"".join(stream_context(tmp_path, "FROM scratch\n", extra_files=[("x", b"1")]))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert tar.extractfile("Dockerfile").read() == b"FROM scratch\n"  # type: ignore[union-attr]
        assert tar.extractfile("x").read() == b"1"  # type: ignore[union-attr]
    assert sorted(members) == ["Dockerfile", "app", "app/run.sh", "x"]
    assert members["app/run.sh"].mode & 0o111
    assert members["app/run.sh"].uid == 0
    assert b"PaxHeader" not in data


def test_stream_yields_chunks_before_the_end(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"f{i}").write_bytes(bytes(64 * 1024))
    chunks = [c for c in stream_context(tmp_path, "FROM scratch") if c]
    assert len(chunks) >= 5
    assert max(len(c) for c in chunks) < 2 * 64 * 1024


def test_extra_trees_are_added_under_their_name(tmp_path: Path) -> None:
    make_tree(tmp_path / "ctx", ["a"])
    make_tree(tmp_path / "art", ["bin/tool"])
    data = b"".join(
        stream_context(tmp_path / "ctx", "FROM scratch", extra_trees=[("build", tmp_path / "art")])
    )
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert {"a", "build", "build/bin", "build/bin/tool", "Dockerfile"} == set(tar.getnames())
