#!/usr/bin/env bash
# Container figures for RESULTS.md: image sizes, build time (cold with --cold: the build
# cache is pruned first), rebuild time after a one-line source change, and the time from
# `docker compose up -d --wait` to every service healthy on empty volumes.
# Run from the repository root as root, with Docker up (bash ../shared/containers/*.sh).
# Ports are published on 127.0.0.1 only; the stack is removed (with its volumes) at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."

PROJECT=modelyard-bench
WORK="$(mktemp -d /tmp/modelyard-bench.XXXXXX)"
ENV_FILE="$WORK/bench.env"
cp .env.example "$ENV_FILE"
sed -i -e "s/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=bench-$RANDOM$RANDOM/" \
    -e "s/^GRAFANA_ADMIN_PASSWORD=.*/GRAFANA_ADMIN_PASSWORD=bench-$RANDOM$RANDOM/" "$ENV_FILE"
cat >> "$ENV_FILE" <<'EOF'
HOST_API_PORT=28000
HOST_MLFLOW_PORT=25000
HOST_UI_PORT=28050
HOST_VIZ_PORT=24141
HOST_PROMETHEUS_PORT=29090
TAG=bench
EOF
compose() { docker compose --env-file "$ENV_FILE" -p "$PROJECT" "$@"; }
seconds() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$@"; }
cleanup() { compose down -v --remove-orphans --timeout 20 >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT

if [[ "${1:-}" == "--cold" ]]; then
    docker builder prune -af >/dev/null
    echo "build cache pruned (uv's cache mount included)"
fi
t0=$(date +%s.%N)
compose build --quiet
echo "build (app, serve, mlflow): $(seconds "$t0" "$(date +%s.%N)") s"

for image in app serve mlflow; do
    size=$(docker image inspect -f '{{.Size}}' "modelyard/modelyard-$image:bench")
    base=$(docker image inspect -f '{{.Size}}' python:3.11-slim-bookworm)
    echo "modelyard-$image: $((size / 1000000)) MB ($(((size - base) / 1000000)) MB above the base)"
done

# one-line source change, built from a copy of the context so the checkout stays untouched
ctx="$WORK/context"
mkdir -p "$ctx/deploy"
cp -a .dockerignore Dockerfile.mlapp pyproject.toml uv.lock README.md src conf "$ctx/"
cp -a deploy/docker "$ctx/deploy/"
echo "# a one-line change" >> "$ctx/src/modelyard/serving/cli.py"
for target in serve app; do
    t0=$(date +%s.%N)
    docker build -q -f "$ctx/Dockerfile.mlapp" --target "$target" \
        -t "modelyard/modelyard-$target:bench-edit" "$ctx" >/dev/null
    echo "rebuild $target after a one-line source change: $(seconds "$t0" "$(date +%s.%N)") s"
    docker image rm "modelyard/modelyard-$target:bench-edit" >/dev/null
done

t0=$(date +%s.%N)
compose up -d --wait --quiet-pull >/dev/null 2>&1
echo "up -d --wait, empty volumes (migrate, train, all healthy): $(seconds "$t0" "$(date +%s.%N)") s"
compose down --timeout 20 >/dev/null 2>&1
t0=$(date +%s.%N)
compose up -d --wait >/dev/null 2>&1
echo "up -d --wait, existing volumes (champion exists, no training): $(seconds "$t0" "$(date +%s.%N)") s"
t0=$(date +%s.%N)
compose down --timeout 20 >/dev/null 2>&1
echo "down: $(seconds "$t0" "$(date +%s.%N)") s"
