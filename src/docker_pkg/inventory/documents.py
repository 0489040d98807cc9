"""An inventory as a document scanners and registries understand: CycloneDX 1.6 JSON (made
with cyclonedx-python-lib) or SPDX 2.3 JSON. Each package carries its package URL
(``pkg:deb/<ID>/<name>@<version>?arch=<arch>&distro=<ID>-<VERSION_ID>``), its source
package and version, and the property ``docker-pkg:introduced-by``; the image itself is
the document's subject, with its tag and, once pushed, its digest."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from docker_pkg import __version__
from docker_pkg.inventory.model import Inventory, Package

INTRODUCED_BY = "docker-pkg:introduced-by"
FORMATS = ("cyclonedx", "spdx")


def purl(package: Package, inventory: Inventory) -> str:
    from packageurl import PackageURL

    system = inventory.system
    qualifiers = {"arch": package.architecture}
    if system.id and system.version_id:
        qualifiers["distro"] = f"{system.id}-{system.version_id}"
    namespace = system.id or "debian"
    return str(PackageURL("deb", namespace, package.name, package.version, qualifiers).to_string())


def _name_and_tag(label: str) -> tuple[str, str]:
    name, _, tag = label.rpartition(":")
    return (name, tag) if name and "/" not in tag else (label, "latest")


def cyclonedx(
    inventory: Inventory,
    introduced: Mapping[tuple[str, str, str], str],
    digest: str | None = None,
) -> str:
    """The CycloneDX 1.6 JSON document of ``inventory``."""
    import warnings

    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    name, tag = _name_and_tag(inventory.image)
    subject = Component(
        name=name,
        version=tag,
        type=ComponentType.CONTAINER,
        bom_ref=inventory.image,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=digest.removeprefix("sha256:"))]
        if digest
        else None,
        properties=[
            Property(name="docker-pkg:image-id", value=inventory.image_id),
            Property(
                name="docker-pkg:package-database",
                value="dpkg" if inventory.has_database else "none",
            ),
        ],
    )
    bom = Bom(serial_number=uuid.uuid5(uuid.NAMESPACE_URL, f"{inventory.image_id}/{digest}"))
    bom.metadata.component = subject
    components = []
    for package in inventory.packages:
        key = (package.name, package.architecture, package.version)
        locator = purl(package, inventory)
        component = Component(
            name=package.name,
            version=package.version,
            type=ComponentType.LIBRARY,
            purl=PackageURL.from_string(locator),
            bom_ref=locator,
            properties=[
                Property(name=INTRODUCED_BY, value=introduced.get(key, inventory.image)),
                Property(name="docker-pkg:source-name", value=package.source),
                Property(name="docker-pkg:source-version", value=package.source_version),
            ],
        )
        bom.components.add(component)
        components.append(component)
    bom.register_dependency(subject, components)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the packages' own dependencies: unknown
        return str(JsonV1Dot6(bom).output_as_string(indent=2))


def spdx(
    inventory: Inventory,
    introduced: Mapping[tuple[str, str, str], str],
    digest: str | None = None,
    created: datetime | None = None,
) -> str:
    """The SPDX 2.3 JSON document of ``inventory``."""
    name, tag = _name_and_tag(inventory.image)
    when = (created or datetime.now().astimezone()).strftime("%Y-%m-%dT%H:%M:%SZ")
    image: dict[str, Any] = {
        "SPDXID": "SPDXRef-Image",
        "name": name,
        "versionInfo": tag,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "primaryPackagePurpose": "CONTAINER",
        "comment": f"image id {inventory.image_id}",
    }
    if digest:
        image["checksums"] = [
            {"algorithm": "SHA256", "checksumValue": digest.removeprefix("sha256:")}
        ]
    packages = [image]
    relationships = [
        {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": "SPDXRef-Image",
        }
    ]
    for index, package in enumerate(inventory.packages):
        key = (package.name, package.architecture, package.version)
        ident = f"SPDXRef-Package-{index}"
        packages.append(
            {
                "SPDXID": ident,
                "name": package.name,
                "versionInfo": package.version,
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": False,
                "sourceInfo": f"built package from: {package.source} {package.source_version}",
                "comment": f"{INTRODUCED_BY}: {introduced.get(key, inventory.image)}",
                "externalRefs": [
                    {
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": purl(package, inventory),
                    }
                ],
            }
        )
        relationships.append(
            {
                "spdxElementId": "SPDXRef-Image",
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": ident,
            }
        )
    document = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": inventory.image,
        "documentNamespace": "https://docker-pkg.invalid/spdx/"
        + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{inventory.image}/{inventory.image_id}")),
        "creationInfo": {"created": when, "creators": [f"Tool: docker-pkg-{__version__}"]},
        "packages": packages,
        "relationships": relationships,
    }
    return json.dumps(document, indent=2)
