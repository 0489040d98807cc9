#!/bin/sh
# Verification: the crontab is in place and the inherited job runs.
set -e
docker run --rm --network none "$1" sh -c 'grep -q run.sh /srv/jobs/crontab && sh /srv/jobs/run.sh' | grep -qx 'job done'
