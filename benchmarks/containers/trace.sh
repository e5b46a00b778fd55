#!/usr/bin/env bash
# Which files of the serving venv does the API use? Runs the compose stack with a file
# tracer (trace/sitecustomize.py on PYTHONPATH) in the serving image's container (api);
# drives the API through every protocol, a hot swap (the new champion is downloaded in a
# child process) and /admin/reload. Then lists the top-level packages no process opened
# and the largest unopened files: the candidates for deploy/docker/slim-venv.sh and
# SERVE_NOT_INSTALLED in Dockerfile.mlapp. A candidate is only safe once .ci/containers.sh passes without it:
# imports on paths this run does not take (errors, --help) are not seen.
# Run from the repository root as root, with Docker up. Ports on 127.0.0.1 only; the stack
# is removed with its volumes at the end. About 5 minutes on the 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

PROJECT=modelyard-trace
WORK="$(mktemp -d /tmp/modelyard-trace.XXXXXX)"
mkdir -m 0777 "$WORK/out"
ENV_FILE="$WORK/trace.env"
cp .env.example "$ENV_FILE"
sed -i -e "s/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=trace-$RANDOM$RANDOM/" \
    -e "s/^GRAFANA_ADMIN_PASSWORD=.*/GRAFANA_ADMIN_PASSWORD=trace-$RANDOM$RANDOM/" "$ENV_FILE"
cat >> "$ENV_FILE" <<'ENV'
HOST_API_PORT=38000
HOST_MLFLOW_PORT=35000
HOST_UI_PORT=38050
HOST_VIZ_PORT=34141
HOST_PROMETHEUS_PORT=39090
TAG=trace
MODELYARD_STREAM_RATE=20
MODELYARD_STREAM_LABEL_DELAY=1
MODELYARD_WORKER_MONITOR_SECONDS=3
MODELYARD_REGISTRY_POLL_SECONDS=2
ENV
cat > "$WORK/trace.yaml" <<YAML
x-trace: &trace
  volumes:
    - $PWD/benchmarks/containers/trace:/tracer:ro
    - $WORK/out:/trace
  environment:
    PYTHONPATH: /tracer
services:
  api: *trace
YAML
compose() { docker compose --env-file "$ENV_FILE" -p "$PROJECT" -f compose.yaml -f "$WORK/trace.yaml" "$@"; }
cleanup() { compose down -v --remove-orphans --timeout 20 >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT

compose build --quiet
compose up -d --wait
API=http://127.0.0.1:38000
row='{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'
drive() {
    for path in /predict /v1/predict /v2/predict; do
        curl -fsS -o /dev/null -X POST "$API$path" -H 'Content-Type: application/json' -d "$row"
        curl -fsS -o /dev/null -X POST "$API$path" -H 'Content-Type: application/json' \
            -d "{\"records\": [$row, $row]}"
    done
    curl -fsS -o /dev/null -X POST "$API/invocations" -H 'Content-Type: text/csv' \
        --data-binary $'sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n'
    curl -fsS -o /dev/null -X POST "$API/invocations" -H 'Content-Type: application/json' \
        -d "{\"dataframe_records\": [$row]}"
    curl -fsS -o /dev/null -X POST "$API/v2/models/iris/versions/champion/infer" \
        -H 'Content-Type: application/json' -d '{"inputs": [{"name": "input-0", "shape": [1, 4],
        "datatype": "FP64", "data": [6.3, 2.8, 5.1, 1.5]}], "outputs": [{"name":
        "predict_proba", "parameters": {"classification": 2}}]}'
    curl -fsS -o /dev/null -X POST "$API/v1/models/iris:predict" \
        -H 'Content-Type: application/json' -d '{"instances": [[5.1, 3.5, 1.4, 0.2]]}'
    curl -sS -o /dev/null -X POST "$API/predict" -H 'Content-Type: application/json' -d '{}'
    for path in / /docs /openapi.json /metrics /ready /v2 /v2/models/iris /ping /version; do
        curl -fsS -o /dev/null "$API$path"
    done
}
drive
before=$(curl -fsS "$API/" | python3 -c 'import json, sys; print(json.load(sys.stdin)["model"]["version"])')
compose run --rm -T train train --estimator random_forest --param promotion.policy=always
for _ in $(seq 90); do
    now=$(curl -fsS "$API/" | python3 -c 'import json, sys; print(json.load(sys.stdin)["model"]["version"])')
    [[ "$now" != "$before" ]] && break
    sleep 2
done
echo "API swapped version $before -> $now"
curl -fsS -o /dev/null -X POST "$API/admin/reload"
drive
compose stop --timeout 20 api  # SIGTERM: each process writes its list at exit

docker run --rm --entrypoint sh "modelyard/modelyard-serve:trace" -c \
    'cd /app/.venv/lib/python3.11/site-packages && find . -type f -printf "%s %p\n"' \
    > "$WORK/files.txt"
python3 - "$WORK/files.txt" "$WORK"/out/*.txt <<'PY'
import collections, sys
site = "/site-packages/"
used = set()
for name in sys.argv[2:]:
    with open(name) as f:
        used.update(l.strip().split(site, 1)[1] for l in f if site in l)
files = []
with open(sys.argv[1]) as f:
    for line in f:
        size, path = line.rstrip("\n").split(" ", 1)
        files.append((int(size), path[2:]))
touched = {p.split("/")[0] for p in used}
total = sum(s for s, _ in files)
opened = sum(s for s, p in files if p in used)
print(f"serving venv: {total / 1e6:.1f} MB in {len(files)} files; opened: {opened / 1e6:.1f} MB")
never = collections.Counter()
for s, p in files:
    if p.split("/")[0] not in touched:
        never[p.split("/")[0]] += s
print(f"top-level entries no process opened ({sum(never.values()) / 1e6:.1f} MB):")
for name, s in never.most_common(20):
    print(f"  {s / 1e6:7.2f} MB  {name}")
print("largest files no process opened:")
for s, p in sorted(((s, p) for s, p in files if p not in used), reverse=True)[:20]:
    print(f"  {s / 1e6:7.2f} MB  {p}")
PY
