#!/usr/bin/env bash
# Make sure what the integration and browser tests talk to is there and running: the local
# PostgreSQL server with the `modelyard` role (scripts/ensure-postgres.sh), Debian's
# headless Chromium, and promtool (Debian's `prometheus` package) for the alert rules'
# checks and unit tests. Each is installed from Debian's packages when missing (as root).
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

# promtool only: the package's Prometheus server, which systemd would start on :9090 (the
# compose stack's Prometheus port), is stopped and disabled again.
if ! command -v promtool >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || { say "promtool is missing: run 'sudo apt-get install prometheus'"; exit 1; }
  say "installing Debian's prometheus (for promtool)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  if [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi
say "promtool: $(promtool --version 2>&1 | head -1)"
