#!/bin/sh
# Verification: the shell and applets work in the built image ($1 is its full label).
set -e
docker run --rm --network none "$1" sh -c 'echo ok | grep -q ok && test -x /bin/ls'
