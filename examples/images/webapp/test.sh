#!/bin/sh
# Verification: runs as www-data (uid 33) and greets with the configured greeting.
set -e
out=$(docker run --rm --network none "$1" sh -c 'id -u; greet test')
echo "$out"
echo "$out" | grep -qx 33
echo "$out" | grep -q "Hello from docker-pkg (test)"
