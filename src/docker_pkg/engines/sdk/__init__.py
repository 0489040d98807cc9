"""An engine through the Docker SDK's low-level client: everything but the few questions
:class:`docker_pkg.engines.docker_engine.DockerEngine` answers itself. Loaded on first need
only (the SDK and requests take a tenth of a second to import). One part per job: the
connection and its errors, response streams that can be cut, builds, image transfers, local
images, containers; :mod:`.engine` puts them behind the engine interface."""
