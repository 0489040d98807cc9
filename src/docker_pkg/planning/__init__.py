"""Planning a run: where each image stands (published, built, to build, and why), the build
chain for a selection, the platforms each image is wanted for, what ``prune`` removes, and
how long a run will take. Pure logic, given the states the registry and engines report."""
