"""Docker engines: the narrow interface the rest of docker-pkg speaks (:mod:`.interface`),
one engine reached over plain HTTP for its questions and through the Docker SDK for its work
(:mod:`.docker_engine`, :mod:`.sdk`), BuildKit's progress stream, ssh relays, and the pool of
engines of a run: placing builds and moving images between engines."""
