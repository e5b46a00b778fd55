#!/usr/bin/env bash
# CI: the Kubernetes manifests (deploy/k8s). No API server can run here, so everything is
# offline: render every overlay alone and with the optional components (kubectl kustomize),
# validate the renders against the Kubernetes schemas (kubernetes-validate --strict; the
# CRDs of prometheus-operator and KEDA have no schema there and only warn), run checkov on
# them (skips justified in deploy/k8s/checks/.checkov.yaml), then the manifest tests.
# The validators have a project of their own (deploy/k8s/checks): their pins would
# downgrade the main project's pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
command -v kubectl >/dev/null || { echo "k8s: kubectl is required (apt-get install kubectl)" >&2; exit 1; }
uv=.tools/uv/bin/uv
[ -x "$uv" ] || make sync
checks=(run --locked --project deploy/k8s/checks)

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

echo "== k8s: render"
bash deploy/k8s/render.sh "$out"

# the newest Kubernetes kubernetes-validate knows, and the oldest this project supports
for version in 1.37.0 1.31.0; do
    echo "== k8s: kubernetes-validate --strict (Kubernetes $version)"
    "$uv" "${checks[@]}" kubernetes-validate --strict --quiet -k "$version" "$out"/*.yaml
done

echo "== k8s: checkov"
"$uv" "${checks[@]}" checkov --config-file deploy/k8s/checks/.checkov.yaml --skip-download \
    --compact --quiet -d "$out"

echo "== k8s: manifest tests"
"$uv" run pytest tests/deploy/test_k8s_manifests.py -q -p no:cacheprovider

echo "== k8s: done in $(( $(date +%s) - started ))s"
