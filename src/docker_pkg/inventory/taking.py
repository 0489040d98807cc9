"""Taking the inventory of each image a run builds, after its verification: read from the
engine that holds it, each package attributed through the image's parent (whose inventory
this run took, the store kept, or is read now, its own parents first), then kept."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from docker_pkg.inventory.reading import read_inventory
from docker_pkg.inventory.store import InventoryStore, Kept, digest_of
from docker_pkg.naming import split_label
from docker_pkg.tree.definitions import Rendered
from docker_pkg.tree.inference import final_base
from docker_pkg.tree.workspace import Workspace

if TYPE_CHECKING:
    from docker_pkg.engines.interface import Engine


class Inventories:
    """The inventories of one run's images, by label."""

    def __init__(
        self, workspace: Workspace, rendered: Mapping[str, Rendered], store: InventoryStore | None
    ):
        self.workspace = workspace
        self.rendered = rendered
        self.store = store
        self._by_full_name = {workspace.name(n): n for n in workspace.definitions}
        self._taken: dict[str, Kept] = {}
        self._lock = threading.Lock()

    def take(self, engine: Engine, name: str, image_id: str) -> Kept:
        """Read, attribute and keep the inventory of image ``name`` (``image_id``)."""
        label = self.workspace.label(name)
        inventory = read_inventory(engine, label, image_id)
        parent = self._parent(engine, name)
        held = parent.inventory.holds() if parent is not None else set()
        introduced = {
            key: parent.introduced.get(key, name) if parent is not None and key in held else name
            for key in inventory.holds()
        }
        digest = (
            self.store.keep(inventory, introduced)
            if self.store is not None
            else digest_of(inventory, introduced)
        )
        kept = Kept(inventory, introduced, digest)
        with self._lock:
            self._taken[label] = kept
        return kept

    def kept(self, engine: Engine, name: str) -> Kept | None:
        """The inventory of image ``name`` as it is now in ``engine``: taken by this run,
        kept in the store, else None."""
        label = self.workspace.label(name)
        with self._lock:
            if label in self._taken:
                return self._taken[label]
        if self.store is None:
            return None
        return self.store.load(image_id(engine, label))

    def _parent(self, engine: Engine, name: str) -> Kept | None:
        base = final_base(self.rendered[name].dockerfile)
        if base is None:
            return None
        parent = self._by_full_name.get(split_label(base)[0])
        if parent is not None and parent != name:
            found = self.kept(engine, parent)
            if found is not None:
                return found
            ident = image_id(engine, self.workspace.label(parent))
            return self.take(engine, parent, ident) if ident else None
        with self._lock:
            if base in self._taken:
                return self._taken[base]
        if not engine.image_exists(base):
            return None
        inventory = read_inventory(engine, base, image_id(engine, base))
        introduced = dict.fromkeys(inventory.holds(), base)
        kept = Kept(inventory, introduced, digest_of(inventory, introduced))
        with self._lock:
            self._taken[base] = kept
        return kept


def image_id(engine: Engine, label: str) -> str:
    """The ID of ``label`` in ``engine``; empty when it holds no such image."""
    name, _ = split_label(label)
    return next((i.id for i in engine.list_images(name) if label in i.tags), "")
