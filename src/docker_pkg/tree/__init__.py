"""Reading a definitions tree: folders become image definitions (changelog, control), names
and versions, rendered Dockerfiles (templates and their filters), the dependency graph with
the dependencies inferred from the Dockerfiles, input fingerprints and labels, the lint
checks, and the tree cache that keeps a scan between runs. Reads files only: no engine, no
network."""
