"""``docker-pkg build``: scan and plan (:mod:`.command`), run the plan's tasks on the pool
with the live view (:mod:`.run`), or make images of several platforms (:mod:`.platforms`)."""
