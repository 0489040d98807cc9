"""Running a plan: the scheduler that starts tasks as their dependencies allow, the run of
one platform (or of several, published as an index), the phases of one image (build,
verify, push), verification, the per-tree lock, and the values a run reports."""
