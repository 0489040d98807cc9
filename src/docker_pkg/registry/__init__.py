"""Registries (Distribution API v2): an HTTP/1.1 transport of our own, a session that
authenticates and retries, manifests and image indexes read and written, and where the
credentials come from."""
