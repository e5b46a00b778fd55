#!/usr/bin/env bash
# Docker Swarm checks for deploy/swarm/stack.yaml, run by .ci/run after the container checks:
#   lint       `docker stack config` validates the stack file (and refuses a bad value);
#   deploy     a single-node swarm (`docker swarm init`), the postgres password as a swarm
#              secret, the stack with 2 API replicas behind the proxy; the one-shot jobs
#              (migrate, train) complete and every service reaches its replica count;
#   update     steady /predict traffic through the proxy while the API rolls to a new image
#              tag (start-first, gated by /ready): zero failed requests, both replicas on
#              the new tag;
#   rollback   an API image that never gets ready (its model reference does not exist):
#              the update fails its healthcheck and the service rolls back by itself, with
#              zero failed requests all along;
#   cleanup    stack, volumes, test images, swarm and docker_gwbridge removed, also on failure.
# 4-7 minutes on the 2-core CI machine once .ci/containers.sh has built the images (its build
# step is rerun here, all cached).
#
#   bash .ci/swarm.sh              the checks above
#   bash .ci/swarm.sh up           deploy only and leave it running (benchmarks/scale); prints
#                                  the state file with the published ports
#   bash .ci/swarm.sh down         remove what `up` deployed and leave the swarm
#
# Needs root and a Docker engine that is in no swarm yet; on a machine with no registry,
# $MODELYARD_SHARED/containers (default ../shared) starts one and builds stand-ins for the base
# images. On a shared engine run it under `flock -o /tmp/docker.lock` (-o: dockerd, if this
# starts it, must not inherit the lock). This kernel has no IPVS, so the stack publishes in
# mode: host and the API is reached through the proxy (see the stack file's header).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE="${1:-check}"
SHARED="${MODELYARD_SHARED:-../shared}"
STACK="${MODELYARD_SWARM_STACK:-modelyard-ci}"
STATE="${MODELYARD_SWARM_STATE:-/tmp/$STACK.swarm-state}"
TAG="${TAG:-dev}"
SECRET=modelyard_postgres_password
NEXT_TAG="$TAG-ci-next"
BROKEN_TAG="$TAG-ci-broken"
WORK="$(mktemp -d /tmp/modelyard-swarm.XXXXXX)"
STARTED=$(date +%s)
TIMINGS=()

log() { echo "[swarm] $*"; }
fail() { echo "[swarm] FAIL: $*" >&2; exit 1; }
phase_start() { PHASE="$1"; PHASE_T0=$(date +%s); log "== $1"; }
phase_end() { TIMINGS+=("$PHASE: $(( $(date +%s) - PHASE_T0 ))s"); log "   done in $(( $(date +%s) - PHASE_T0 ))s"; }
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
    local seconds=$1 what="$2"; shift 2
    local deadline=$(( $(date +%s) + seconds ))
    until "$@"; do
        (( $(date +%s) < deadline )) || fail "timed out after ${seconds}s waiting for: $what"
        sleep 2
    done
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
json() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }

# --- teardown: everything this script created, in an order that cannot strand a resource ----
teardown() {
    log "teardown: stack, volumes, swarm"
    docker stack rm "$STACK" >/dev/null 2>&1 || true
    local deadline=$(( $(date +%s) + 90 ))
    while [[ -n "$(docker ps -aq --filter "label=com.docker.stack.namespace=$STACK")" ]] \
        && (( $(date +%s) < deadline )); do
        sleep 1
    done
    docker volume ls -q --filter "label=com.docker.stack.namespace=$STACK" \
        | xargs -r docker volume rm >/dev/null 2>&1 || true
    docker swarm leave --force >/dev/null 2>&1 || true
    docker network rm docker_gwbridge >/dev/null 2>&1 || true
    docker image rm "modelyard/modelyard-serve:$NEXT_TAG" "modelyard/modelyard-serve:$BROKEN_TAG" \
        >/dev/null 2>&1 || true
    rm -f "$STATE"
}

if [[ "$MODE" == down ]]; then
    [[ -f "$STATE" ]] || fail "no $STATE: nothing deployed by \`.ci/swarm.sh up\`"
    teardown
    rm -rf "$WORK"
    exit 0
fi
[[ "$MODE" == check || "$MODE" == up ]] || fail "usage: .ci/swarm.sh [check|up|down]"
trap 'rm -rf "$WORK"' EXIT

# --- engine, base images and the project's images ----------------------------------------
phase_start "docker engine and images"
if [[ -d "$SHARED/containers" ]]; then
    bash "$SHARED/containers/ensure-docker.sh"
    bash "$SHARED/containers/offline-base-images.sh"
else
    docker info >/dev/null 2>&1 || fail "no Docker engine answers (start dockerd, or set MODELYARD_SHARED)"
fi
swarm_state=$(docker info -f '{{.Swarm.LocalNodeState}}')
[[ "$swarm_state" == inactive ]] \
    || fail "this engine is already in a swarm ($swarm_state); the checks make and leave their own" \
        "(left by an interrupted run: bash .ci/swarm.sh down, or docker swarm leave --force)"
REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
# the images .ci/containers.sh builds, by its build step (compose.yaml, the same build
# arguments): right after it, every layer is cached and this takes seconds; alone, it makes
# sure the images hold this checkout
POSTGRES_PASSWORD=build GRAFANA_ADMIN_PASSWORD=build TAG="$TAG" REVISION="$REVISION" \
    docker compose -f compose.yaml -p "$STACK-build" build --quiet api train mlflow
docker build -q -f deploy/swarm/Dockerfile.proxy --build-arg VERSION="$TAG" \
    --build-arg REVISION="$REVISION" -t "modelyard/modelyard-proxy:$TAG" . >/dev/null
phase_end

# --- lint ---------------------------------------------------------------------------------
phase_start "docker stack config"
docker stack config -c deploy/swarm/stack.yaml >"$WORK/stack.rendered.yaml"
# the rendered stack keeps what the update checks rely on
python3 - "$WORK/stack.rendered.yaml" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
api = text.split("\n  api:\n", 1)[1].split("\n  migrate:\n", 1)[0]
for needed in ("order: start-first", "failure_action: rollback", "endpoint_mode: dnsrr",
               "rollback_config:", "http://127.0.0.1:8000/ready", "stop_grace_period:"):
    assert needed in api, f"api service lacks {needed!r}"
assert re.search(r"mode: host\n\s+target: 8000", text), "the proxy must publish 8000 in mode: host"
EOF
if API_REPLICAS=two docker stack config -c deploy/swarm/stack.yaml >/dev/null 2>&1; then
    fail "docker stack config accepted API_REPLICAS=two"
fi
phase_end

# --- deploy ---------------------------------------------------------------------------------
trap 'code=$?; if [[ $code -ne 0 ]]; then
        docker service ls 2>/dev/null || true
        for s in $(docker stack services -q "$STACK" 2>/dev/null); do
            docker service ps --no-trunc --format "{{.Name}} {{.Image}} {{.CurrentState}} {{.Error}}" "$s" 2>/dev/null | head -5
        done
        for c in $(docker ps -aq --filter "label=com.docker.swarm.service.name=${STACK}_api" | head -2); do
            docker logs --tail 30 "$c" 2>&1 || true
        done
        teardown
    elif [[ "$MODE" == check ]]; then teardown; fi
    rm -rf "$WORK"; exit $code' EXIT

phase_start "swarm init, secret, deploy (${API_REPLICAS:=2} API replicas)"
docker swarm init --advertise-addr 127.0.0.1 >/dev/null
docker node update --label-add modelyard.storage=true --label-add modelyard.edge=true \
    "$(docker info -f '{{.Swarm.NodeID}}')" >/dev/null
python3 -c 'import secrets; print(secrets.token_hex(16), end="")' | docker secret create "$SECRET" - >/dev/null
export TAG API_REPLICAS WORKER_REPLICAS="${WORKER_REPLICAS:-2}" STREAM_REPLICAS="${STREAM_REPLICAS:-1}"
export API_START_PERIOD="${API_START_PERIOD:-60s}"
export HOST_API_PORT HOST_MLFLOW_PORT HOST_UI_PORT HOST_VIZ_PORT
HOST_API_PORT=$(free_port) HOST_MLFLOW_PORT=$(free_port) HOST_UI_PORT=$(free_port) HOST_VIZ_PORT=$(free_port)
printf '%s\n' "STACK=$STACK" "TAG=$TAG" "HOST_API_PORT=$HOST_API_PORT" \
    "HOST_MLFLOW_PORT=$HOST_MLFLOW_PORT" "HOST_UI_PORT=$HOST_UI_PORT" \
    "HOST_VIZ_PORT=$HOST_VIZ_PORT" >"$STATE"
docker stack deploy --resolve-image never -c deploy/swarm/stack.yaml "$STACK" >/dev/null
API="http://127.0.0.1:$HOST_API_PORT"
ROW='{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'

replicas() { docker service ls --filter "name=${STACK}_$1" --format '{{.Name}} {{.Replicas}}' \
    | awk -v n="${STACK}_$1" '$1 == n {print $2}'; }
job_done() { docker service ps --format '{{.CurrentState}}' "${STACK}_$1" | grep -q '^Complete'; }
converged() {
    local service want
    for service in postgres mlflow api worker stream ui viz proxy; do
        case $service in
            api) want=$API_REPLICAS ;;
            worker) want=$WORKER_REPLICAS ;;
            stream) want=$STREAM_REPLICAS ;;
            *) want=1 ;;
        esac
        [[ "$(replicas "$service")" == "$want/$want"* ]] || return 1
    done
    job_done migrate && job_done train
}
predicts() { curl -fsS -o /dev/null -X POST "$API/predict" -H 'Content-Type: application/json' -d "$ROW"; }
wait_for 420 "migrate and train complete, every service at its replica count" converged
wait_for 60 "/predict through the proxy" predicts
log "   $(docker stack services "$STACK" --format '{{.Name}}={{.Replicas}}' | sort | tr '\n' ' ')"
phase_end

if [[ "$MODE" == up ]]; then
    log "deployed; state in $STATE (remove with: bash .ci/swarm.sh down)"
    cat "$STATE"
    exit 0
fi

# --- rolling update under load --------------------------------------------------------------
SERVICE="${STACK}_api"
update_state() { docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "$SERVICE"; }
running_images() { docker service ps --filter desired-state=running --format '{{.Image}} {{.CurrentState}}' \
    "$SERVICE" | awk '$2 == "Running" {print $1}' | sort | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' '; }
start_load() { python3 .ci/swarm_load.py "$API/predict" --rate 40 --threads 4 >"$WORK/$1.json" & LOAD_PID=$!; }
stop_load() { # stop_load NAME: the summary, and a failure if any request failed
    kill -TERM "$LOAD_PID"; wait "$LOAD_PID"
    log "   load: $(cat "$WORK/$1.json")"
    python3 - "$WORK/$1.json" <<'EOF' || fail "requests failed or too few were made under load ($1)"
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["failed"] == 0 and d["requests"] >= 200 else 1)
EOF
}

phase_start "rolling update to a new tag under load"
printf 'FROM modelyard/modelyard-serve:%s\nLABEL org.opencontainers.image.version=%s\n' \
    "$TAG" "$NEXT_TAG" | docker build -q -t "modelyard/modelyard-serve:$NEXT_TAG" - >/dev/null
start_load update
docker service update --detach --no-resolve-image --image "modelyard/modelyard-serve:$NEXT_TAG" \
    "$SERVICE" >/dev/null
is_state() {
    local state; state=$(update_state)
    [[ "$state" != *paused ]] || fail "the update paused: $(docker service inspect -f '{{.UpdateStatus.Message}}' "$SERVICE")"
    [[ "$state" == "$1" ]]
}
wait_for 240 "the rolling update completes" is_state completed
on_next() { [[ "$(running_images)" == "modelyard/modelyard-serve:${NEXT_TAG}x${API_REPLICAS} " ]]; }
wait_for 30 "every API replica on the new tag" on_next
stop_load update
log "   API tasks now: $(running_images)"
phase_end

phase_start "an image that never gets ready rolls back by itself"
# a release whose model reference does not exist: it starts, /health answers, /ready never does
printf 'FROM modelyard/modelyard-serve:%s\nENV MODELYARD_MODEL_REF=999999\n' "$TAG" \
    | docker build -q -t "modelyard/modelyard-serve:$BROKEN_TAG" - >/dev/null
start_load rollback
docker service update --detach --no-resolve-image --image "modelyard/modelyard-serve:$BROKEN_TAG" \
    "$SERVICE" >/dev/null
wait_for 300 "the failed update rolls back" is_state rollback_completed
image=$(docker service inspect -f '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "$SERVICE")
[[ "$image" == "modelyard/modelyard-serve:$NEXT_TAG"* ]] || fail "after the rollback the API runs $image"
wait_for 60 "every API replica back on the previous tag" on_next
stop_load rollback
log "   update status: $(docker service inspect -f '{{.UpdateStatus.Message}}' "$SERVICE")"
phase_end

log "timings:"
for line in "${TIMINGS[@]}"; do log "   $line"; done
log "all swarm checks passed in $(( $(date +%s) - STARTED ))s"
