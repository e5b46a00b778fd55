#!/bin/sh
# Alertmanager, with the API's admin key (MODELYARD_ADMIN_KEY) in the file its webhook reads
# the bearer token from: the key stays out of the image and out of the configuration file.
set -eu
mkdir -p /run/modelyard
umask 077
printf '%s' "${MODELYARD_ADMIN_KEY:-}" > /run/modelyard/admin-key
unset MODELYARD_ADMIN_KEY
exec /usr/bin/prometheus-alertmanager "$@"
