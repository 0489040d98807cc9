"""docker-pkg: build, verify and publish trees of Docker images from templated definitions."""

__version__ = "5.0.0.dev0"
