"""After a run's inventories: each built image's outdated packages by the indexes at hand,
and a warning for each package a ``refresh`` bumped an image for that did not move."""

from __future__ import annotations

from collections.abc import Mapping

from docker_pkg.commands.outdated import known_counts
from docker_pkg.config.settings import state_dir
from docker_pkg.inventory.refreshed import RefreshRecord, not_moved
from docker_pkg.inventory.store import InventoryStore
from docker_pkg.running.model import ImageResult


def after_inventories(results: list[ImageResult], environ: Mapping[str, str]) -> list[str]:
    """Fill each result's ``outdated`` where known; the warnings about refreshes."""
    state = state_dir(environ)
    store = InventoryStore(state / "inventories")
    taken = {r.name: r for r in results if r.image_id and r.packages is not None}
    ids = {name: str(result.image_id) for name, result in taken.items()}
    for name, counts in known_counts(store, ids, environ).items():
        taken[name].outdated = counts
    record = RefreshRecord(state)
    warnings, checked = [], []
    for result in taken.values():
        expected = record.expected(result.label)
        kept = store.load(ids[result.name]) if expected else None
        if kept is None:
            continue
        warnings += not_moved(kept.inventory, expected, store.apt_files(kept.inventory))
        checked.append(result.label)
    record.forget(checked)
    return warnings
