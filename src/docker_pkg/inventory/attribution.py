"""Which image put each package there (pure): of an image's chain of ``FROM`` ancestors,
the one nearest the root from which on every image holds the package at that version; the
external base image when the tree's root already had it from its ``FROM``."""

from __future__ import annotations

from collections.abc import Sequence

from docker_pkg.inventory.model import Inventory


def introduced_by(chain: Sequence[tuple[str, Inventory]]) -> dict[tuple[str, str, str], str]:
    """For the last inventory of ``chain`` (``(who, inventory)`` from the farthest
    ancestor, an external base image first when known, to the image itself): each package,
    as (name, architecture, version), and who introduced it. A package removed by an image
    of the chain and installed again later counts from where it came back."""
    if not chain:
        return {}
    holders = [(who, inventory.holds()) for who, inventory in chain]
    introduced = {}
    for key in holders[-1][1]:
        who = holders[-1][0]
        for earlier, held in reversed(holders[:-1]):
            if key not in held:
                break
            who = earlier
        introduced[key] = who
    return introduced
