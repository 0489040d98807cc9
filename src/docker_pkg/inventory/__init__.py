"""What is inside each image: the Debian packages of its package database (read from the
image without running it), which image of the tree put each one there, and the inventory
as CycloneDX or SPDX documents with package URLs. The parsing, attribution and documents
are pure; reading goes through the engine interface."""
