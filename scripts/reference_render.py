"""Render a definitions tree with the reference docker-pkg 4.0.4, for golden test files.

Run with a Python that has ``docker-pkg==4.0.4`` installed (it needs no Docker engine here):
    python scripts/reference_render.py CONFIG DIRECTORY OUTDIR
writes OUTDIR/<short name>.Dockerfile for every image. Used to (re)make
tests/data/compat/expected-*; our own renderer must match those files byte for byte.
"""

import os
import sys

from docker_pkg import cli, dockerfile, image  # the reference package, not ours


def main(config_path: str, directory: str, outdir: str) -> None:
    config = cli.read_config(config_path)
    found = []
    for root, _, files in os.walk(directory):
        if "Dockerfile.template" in files and "changelog" in files:
            img = image.DockerImage.__new__(image.DockerImage)
            img.metadata = {}
            img.read_metadata(root)
            img.config = config
            img.label = image.ImageLabel(config, img.metadata["name"], img.metadata["tag"])
            img.path = root
            found.append(img)
    known = set(config.get("base_images", [])) | {i.label.image() for i in found}
    dockerfile.TemplateEngine.setup(config, known)
    os.makedirs(outdir, exist_ok=True)
    for img in found:
        with open(os.path.join(outdir, f"{img.short_name}.Dockerfile"), "w") as fh:
            fh.write(img.render_dockerfile())


if __name__ == "__main__":
    main(*sys.argv[1:])
