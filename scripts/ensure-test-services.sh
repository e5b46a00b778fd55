#!/usr/bin/env bash
# Make sure what the integration and browser tests talk to is there and running: the local
# PostgreSQL server with the `modelyard` role (scripts/ensure-postgres.sh) and Debian's
# headless Chromium. Either is installed from Debian's packages when missing (as root).
set -euo pipefail

say() { echo "[test-services] $*"; }

bash "$(dirname "$0")/ensure-postgres.sh"

if ! command -v chromium >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || { say "chromium is missing: run 'sudo apt-get install chromium'"; exit 1; }
  say "installing Debian's chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
say "chromium: $(chromium --version 2>/dev/null | head -1)"
