"""``docker-pkg outdated``: the packages of the tree's images that have a newer candidate
in their own apt sources, each attributed to the image that introduced it, and so the
images to refresh (and what a refresh rebuilds)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from docker_pkg.config.settings import Config, cache_dir, state_dir
from docker_pkg.errors import EngineError, UsageError
from docker_pkg.inventory.apt_indexes import AptIndexes
from docker_pkg.inventory.outdated import CandidateMemo, find_updates
from docker_pkg.inventory.reading import read_inventory
from docker_pkg.inventory.refresh_plan import ImageFindings, RefreshPlan, plan_refresh
from docker_pkg.inventory.store import InventoryStore, Kept
from docker_pkg.inventory.taking import Inventories, image_id
from docker_pkg.naming import split_label
from docker_pkg.planning.plan import selection
from docker_pkg.tree.definitions import Rendered
from docker_pkg.tree.inference import final_base
from docker_pkg.tree.workspace import Workspace

if TYPE_CHECKING:
    from docker_pkg.engines.interface import Engine


def find_outdated(
    *,
    config: Config,
    directory: Path,
    select: str | None,
    security: bool,
    engine: Engine | None,
    environ: Mapping[str, str],
) -> tuple[Workspace, RefreshPlan]:
    """The tree and what of it to refresh."""
    workspace, rendered = Workspace.load_inferred(directory, config)
    names = selection(workspace.labels, select)
    if not names:
        raise UsageError(f"no image matches {select!r} in {directory}")
    if engine is None:
        raise EngineError("reading the images' inventories needs a Docker engine; none answers")
    store = InventoryStore(state_dir(environ) / "inventories")
    inventories = Inventories(workspace, rendered, store)
    proxy = config.template_vars.get("apt_only_proxy")
    indexes = AptIndexes(_indexes_folder(environ), proxy=str(proxy) if proxy else None)
    warnings: list[str] = []
    findings: dict[str, ImageFindings] = {}
    bases = _external_bases(workspace, rendered)
    held = engine.tagged_ids()
    memo: CandidateMemo = {}
    unchecked: list[str] = []
    warned: dict[str, list[str]] = {}  # what was found wrong -> the images it concerns
    try:
        for name in workspace.graph.order(names):
            kept = _inventory(engine, inventories, name, held, warnings)
            if kept is None:
                continue
            found = find_updates(kept.inventory, store.apt_files(kept.inventory), indexes, memo)
            for warning in found.warnings:
                warned.setdefault(warning, []).append(workspace.label(name))
            if kept.inventory.packages and not found.read_any:
                unchecked.append(workspace.label(name))
            updates = tuple(u for u in found.updates if u.security or not security)
            findings[name] = ImageFindings(
                workspace.label(name), updates, kept.introduced, bases[name]
            )
    finally:
        indexes.close()
    warnings += [concerning(warning, labels) for warning, labels in warned.items()]
    used = {f.base for f in findings.values() if f.base is not None and f.updates}
    holdings = {
        base: _holdings(engine, base, _auth(config, base, environ), warnings)
        for base in sorted(used)
    }
    plan = plan_refresh(
        workspace.graph,
        workspace.labels,
        findings,
        holdings,
        bases=bases,
        warnings=tuple(dict.fromkeys(warnings)),
        unchecked=tuple(unchecked),
    )
    return workspace, plan


def _external_bases(
    workspace: Workspace, rendered: Mapping[str, Rendered]
) -> dict[str, str | None]:
    """Each image's final ``FROM`` when that is not an image of the tree (None otherwise,
    or when its Dockerfile does not render)."""
    full_names = {workspace.name(n) for n in workspace.definitions}
    bases: dict[str, str | None] = {}
    for name in workspace.definitions:
        base = final_base(rendered[name].dockerfile) if name in rendered else None
        outside = base is not None and split_label(base)[0] not in full_names
        bases[name] = base if outside else None
    return bases


def concerning(warning: str, labels: list[str]) -> str:
    """``warning`` naming the images it concerns (a source many images share is one)."""
    if len(labels) == 1:
        return f"{labels[0]}: {warning}"
    shown = ", ".join(labels[:3]) + (f" and {len(labels) - 3} more" if len(labels) > 3 else "")
    return f"{warning} (in {len(labels)} images: {shown})"


def _indexes_folder(environ: Mapping[str, str]) -> Path:
    return cache_dir(environ) / "apt-indexes"


def known_counts(
    store: InventoryStore, image_ids: Mapping[str, str], environ: Mapping[str, str]
) -> dict[str, tuple[int, int]]:
    """For each image (name -> image ID) with a kept inventory, how many of its packages
    have a newer candidate and how many of those are security updates, by the indexes an
    earlier ``outdated`` fetched and checked (never the network); images none of whose
    sources were fetched yet are left out."""
    folder = _indexes_folder(environ)
    if not AptIndexes.fetched_before(folder):  # no outdated ran here: nothing at hand
        return {}
    indexes = AptIndexes(folder, offline=True)
    memo: CandidateMemo = {}
    counts = {}
    for name, ident in image_ids.items():
        kept = store.load(ident)
        if kept is None:
            continue
        found = find_updates(kept.inventory, store.apt_files(kept.inventory), indexes, memo)
        if found.read_any:
            counts[name] = (len(found.updates), sum(u.security for u in found.updates))
    return counts


def _inventory(
    engine: Engine,
    inventories: Inventories,
    name: str,
    held: Mapping[str, str],
    warnings: list[str],
) -> Kept | None:
    """The inventory of ``name``'s current version (kept, else read from the engine's
    image); None, with a warning, when the engine does not hold it (``held``: the image ID
    of each tag the engine holds). With ``platforms``: of the engine's own platform."""
    platform = engine.platform() if inventories.workspace.config.platforms else ""
    label = inventories.label(name, platform)
    ident = held.get(label)
    if not ident:
        warnings.append(f"{label}: not in the engine, so not looked at: build or pull it")
        return None
    try:
        store = inventories.store
        kept = store.load(ident) if store is not None else None
        return kept or inventories.take(engine, name, ident, platform)
    except EngineError as exc:
        warnings.append(f"{label}: cannot read its inventory: {exc}")
        return None


def _auth(config: Config, base: str, environ: Mapping[str, str]) -> dict[str, str] | None:
    """The engine's credentials for pulling ``base`` from the configured registry."""
    if not config.registry or not base.startswith(config.registry + "/"):
        return None
    from docker_pkg.registry.connect import run_credentials

    credentials = run_credentials(config, environ, None)
    return credentials.engine_auth(config.registry) if credentials else None


def _holdings(
    engine: Engine, base: str, auth: Mapping[str, str] | None, warnings: list[str]
) -> dict[tuple[str, str], str] | None:
    """What the external ``base`` holds now: its image pulled again when its name says
    which registry it comes from (never Docker Hub unasked), else the engine's copy."""
    host = base.split("/", 1)[0] if "/" in base else ""
    if ("." in host or ":" in host) and host not in ("localhost",):
        try:
            engine.pull(base, auth)
        except EngineError as exc:
            warnings.append(f"{base}: cannot fetch its current image ({exc}); the local copy tells")
    try:
        if not engine.image_exists(base):
            return None
        inventory = read_inventory(engine, base, image_id(engine, base))
    except EngineError as exc:
        warnings.append(f"{base}: cannot read its inventory: {exc}")
        return None
    return {(p.name, p.architecture): p.version for p in inventory.packages}


def outdated(
    *,
    config: Config,
    directory: Path,
    select: str | None,
    security: bool,
    output_format: str,
    engine: Engine | None,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Print what is outdated; 1 when anything is, else 0."""
    _, plan = find_outdated(
        config=config,
        directory=directory,
        select=select,
        security=security,
        engine=engine,
        environ=os.environ if environ is None else environ,
    )
    out = stdout or sys.stdout
    if output_format == "json":
        json.dump(plan.as_data(), out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        out.write(describe(plan))
        for warning in plan.warnings:
            print(f"docker-pkg: warning: {warning}", file=sys.stderr)
    return 1 if plan.outdated else 0


def describe(plan: RefreshPlan) -> str:
    """``plan`` for a reader: each image to refresh, its packages and what it rebuilds."""
    lines = []
    if plan.unchecked:
        lines.append(
            f"Not checked ({len(plan.unchecked)}): none of their apt sources could be read "
            "(see the warnings): " + ", ".join(plan.unchecked)
        )
    if not plan.outdated:
        lines.append("Nothing else is outdated." if lines else "Nothing is outdated.")
        return "\n".join(lines) + "\n"
    if plan.refresh:
        lines.append(f"Images to refresh ({len(plan.refresh)}):")
    for image in plan.refresh:
        security = sum(u.security for u in image.updates)
        rebuilds = len(image.descendants)
        lines.append(
            f"  {image.label}: {len(image.updates)} package(s), {security} security; "
            f"a refresh rebuilds {rebuilds} descendant(s)"
        )
        lines += [_line(u.describe(), u.security) for u in image.updates]
    for base in plan.external:
        users = ", ".join(base.images) or "no image of the tree"
        if base.base_holds:
            verdict = f"its current image holds the candidates: refresh {users}"
        elif base.base_holds is None:
            verdict = f"cannot tell whether its current image holds them (used by {users})"
        else:
            verdict = f"the base must be refreshed first (used by {users})"
        lines.append(f"  external base {base.base}: {len(base.updates)} package(s); {verdict}")
        lines += [_line(u.describe(), u.security) for u in base.updates]
    return "\n".join(lines) + "\n"


def _line(text: str, security: bool) -> str:
    return f"    {text}" + ("  [security]" if security else "")
