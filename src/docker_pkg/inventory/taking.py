"""Taking the inventory of each image a run builds, after its verification: read from the
engine that holds it, each package attributed through the image's parent (whose inventory
this run took, the store kept, or is read now, its own parents first), then kept."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from docker_pkg.inventory.reading import read_image, read_inventory
from docker_pkg.inventory.store import InventoryStore, Kept, digest_of
from docker_pkg.naming import platform_tag, split_label
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

    def label(self, name: str, platform: str = "") -> str:
        """The label of image ``name``; of its image for ``platform`` (``TAG-ARCH``) in a
        run of several platforms."""
        if not platform:
            return self.workspace.label(name)
        tag = platform_tag(self.workspace.definitions[name].tag, platform)
        return f"{self.workspace.name(name)}:{tag}"

    def take(self, engine: Engine, name: str, image_id: str, platform: str = "") -> Kept:
        """Read, attribute and keep the inventory of image ``name`` (``image_id``), of its
        image for ``platform`` when given."""
        label = self.label(name, platform)
        inventory, apt = read_image(engine, label, image_id)
        parent = self._parent(engine, name, platform)
        held = parent.inventory.holds() if parent is not None else set()
        introduced = {
            key: parent.introduced.get(key, name) if parent is not None and key in held else name
            for key in inventory.holds()
        }
        digest = (
            self.store.keep(inventory, introduced, apt)
            if self.store is not None
            else digest_of(inventory, introduced)
        )
        kept = Kept(inventory, introduced, digest)
        with self._lock:
            self._taken[label] = kept
        return kept

    def kept(self, engine: Engine, name: str, platform: str = "") -> Kept | None:
        """The inventory of image ``name`` (for ``platform``) as it is now in ``engine``:
        taken by this run, kept in the store, else None."""
        label = self.label(name, platform)
        with self._lock:
            if label in self._taken:
                return self._taken[label]
        if self.store is None:
            return None
        return self.store.load(image_id(engine, label))

    def _parent(self, engine: Engine, name: str, platform: str) -> Kept | None:
        base = final_base(self.rendered[name].dockerfile)
        if base is None:
            return None
        parent = self._by_full_name.get(split_label(base)[0])
        if parent is not None and parent != name:
            found = self.kept(engine, parent, platform)
            if found is not None:
                return found
            ident = image_id(engine, self.label(parent, platform))
            return self.take(engine, parent, ident, platform) if ident else None
        key = f"{base}@{platform}" if platform else base  # each platform's variant of it
        with self._lock:
            if key in self._taken:
                return self._taken[key]
        if not engine.image_exists(base):
            return None
        inventory = read_inventory(engine, base, image_id(engine, base))
        introduced = dict.fromkeys(inventory.holds(), base)
        kept = Kept(inventory, introduced, digest_of(inventory, introduced))
        with self._lock:
            self._taken[key] = kept
        return kept


def image_id(engine: Engine, label: str) -> str:
    """The ID of ``label`` in ``engine``; empty when it holds no such image."""
    name, _ = split_label(label)
    return next((i.id for i in engine.list_images(name) if label in i.tags), "")
