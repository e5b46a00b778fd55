#!/usr/bin/env bash
# Make sure what the integration and browser tests talk to is there and running: the local
# PostgreSQL server with the `modelyard` role (scripts/ensure-postgres.sh), Debian's
# headless Chromium, promtool and Prometheus (Debian's `prometheus` package) for the alert
# rules' checks, unit tests and the monitoring tests, and Alertmanager with amtool (Debian's
# `prometheus-alertmanager`). Each is installed from Debian's packages when missing (as root).
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

# The binaries only: the packages' servers, which systemd would start on :9090 and :9093 (the
# compose stack's ports), are stopped and disabled again; the tests start their own.
ensure_package() {  # ensure_package COMMAND PACKAGE SERVICE
  command -v "$1" >/dev/null 2>&1 && return 0
  [ "$(id -u)" -eq 0 ] || { say "$1 is missing: run 'sudo apt-get install $2'"; exit 1; }
  say "installing Debian's $2 (for $1)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$2" >/dev/null
  if [ -d /run/systemd/system ]; then
    systemctl disable --now "$3" >/dev/null 2>&1 || true
  fi
}
ensure_package promtool prometheus prometheus
ensure_package amtool prometheus-alertmanager prometheus-alertmanager
say "promtool: $(promtool --version 2>&1 | head -1)"
say "amtool: $(amtool --version 2>&1 | head -1)"
