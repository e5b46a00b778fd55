#!/usr/bin/env bash
# Inside a debian:bookworm container (run by .ci/containers.sh): the README's set-up on a
# stock Debian 12, whose only Python is the system's, externally managed (PEP 668).
#   make sync       uv bootstrapped into .tools/uv, the locked venv on /usr/bin/python3
#   make postgres   Debian's PostgreSQL installed, started, role and database modelyard
#   the README's PostgreSQL example, as written.
# The checkout to test is mounted read-only at /repo; it is cloned, as a user would.
set -euo pipefail
say() { echo "[fresh-debian] $*"; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3-pip make git ca-certificates >/dev/null
# Debian's python3 ships this marker; an image that removed it is given it back
stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')
[ -e "$stdlib/EXTERNALLY-MANAGED" ] \
    || printf '[externally-managed]\nError=use apt, or a virtual environment\n' > "$stdlib/EXTERNALLY-MANAGED"
if python3 -m pip install --dry-run --quiet uv >/dev/null 2>&1; then
    say "FAIL: the system Python accepted a plain pip install"; exit 1
fi
say "python3: $(readlink -f "$(command -v python3)") ($(python3 --version)), pip refuses system-wide installs"

git config --global --add safe.directory '*'
git clone -q /repo /tmp/checkout
cd /tmp/checkout
started=$(date +%s)
make sync >/tmp/sync.log 2>&1 || { tail -20 /tmp/sync.log; say "FAIL: make sync"; exit 1; }
say "make sync: $(( $(date +%s) - started ))s, venv on $(readlink -f .venv/bin/python)"
[ "$(readlink -f .venv/bin/python)" = "$(readlink -f /usr/bin/python3)" ] || { say "FAIL: venv not on the system Python"; exit 1; }
.venv/bin/modelyard --help >/dev/null

make postgres
line=$(grep -m1 'postgresql://.*modelyard db upgrade' README.md)
say "README: $line"
PATH="$PWD/.venv/bin:$PATH" bash -c "$line"
say "ok"
