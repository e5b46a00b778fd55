#!/usr/bin/env bash
# Make sure what the integration and browser tests talk to is there and running:
# the local PostgreSQL server and Debian's headless Chromium.
set -euo pipefail

say() { echo "[test-services] $*"; }

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    say "starting PostgreSQL"
    for version in $(ls /etc/postgresql 2>/dev/null); do
      pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
  fi
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && break; sleep 1; done
  pg_isready -h 127.0.0.1 -p 5432 -q || { say "PostgreSQL is not reachable on 127.0.0.1:5432"; exit 1; }
fi
say "PostgreSQL ready"

if ! command -v chromium >/dev/null 2>&1; then
  say "installing Debian's chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
say "chromium: $(chromium --version 2>/dev/null | head -1)"
