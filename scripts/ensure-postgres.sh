#!/usr/bin/env bash
# A local PostgreSQL for development and the tests, on 127.0.0.1:5432: Debian's package
# installed when missing (as root), its cluster started when stopped, and a role and database
# `modelyard` (password `modelyard`, allowed to create databases) created when missing.
# Connect with postgresql://modelyard:modelyard@127.0.0.1:5432/modelyard. Idempotent.
set -euo pipefail

say() { echo "[postgres] $*"; }
die() { echo "[postgres] $*" >&2; exit 1; }
PORT=5432

as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    elif [ "$(id -un)" = postgres ]; then
        "$@"
    else
        sudo -n -u postgres -- "$@" 2>/dev/null \
            || die "run as root (or with passwordless sudo) to set up the local PostgreSQL"
    fi
}

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || die "PostgreSQL is not installed: run 'sudo apt-get install postgresql' (or run this as root)"
    say "installing Debian's postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi

if ! pg_isready -h 127.0.0.1 -p "$PORT" -q 2>/dev/null; then
    clusters=$(pg_lsclusters --no-header 2>/dev/null | awk '{print $1 " " $2}')
    [ -n "$clusters" ] || die "no PostgreSQL cluster exists (pg_createcluster 15 main creates one)"
    while read -r version name; do
        say "starting cluster $version/$name"
        pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start || true
    done <<< "$clusters"
    for _ in $(seq 1 60); do
        pg_isready -h 127.0.0.1 -p "$PORT" -q 2>/dev/null && break
        sleep 0.5
    done
    pg_isready -h 127.0.0.1 -p "$PORT" -q || die "PostgreSQL is not reachable on 127.0.0.1:$PORT"
fi

# The role and database, over the local socket as the postgres superuser (peer authentication).
psql_admin() { as_postgres psql -p "$PORT" -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = 'modelyard'")" != 1 ]; then
    say "creating role modelyard"
    psql_admin -c "CREATE ROLE modelyard LOGIN CREATEDB PASSWORD 'modelyard'"
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = 'modelyard'")" != 1 ]; then
    say "creating database modelyard"
    psql_admin -c "CREATE DATABASE modelyard OWNER modelyard"
fi
say "ready: postgresql://modelyard:modelyard@127.0.0.1:$PORT/modelyard"
