#!/bin/sh
echo "${GREETING:-hello} (${1:-world})"
