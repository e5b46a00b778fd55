#!/usr/bin/env bash
# Render every overlay, alone and with the optional components, as `kubectl apply -k` would
# see them: OUT/<overlay>[+<component>...].yaml. Used by .ci/k8s.sh and the manifest tests.
#   bash deploy/k8s/render.sh OUT
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mkdir -p "$1" && cd "$1" && pwd)"
kubectl="${KUBECTL:-kubectl}"

variants=(
    dev
    prod
    dev+monitoring
    dev+autoscaling
    prod+monitoring
    prod+monitoring+autoscaling
)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for variant in "${variants[@]}"; do
    IFS=+ read -r overlay components <<<"$variant"
    if [ -z "$components" ]; then
        "$kubectl" kustomize "$here/overlays/$overlay" >"$out/$variant.yaml"
        continue
    fi
    # what a user does: the overlay with `components:` added (kustomize wants relative paths)
    dir="$work/$variant"
    mkdir -p "$dir"
    rel="$(realpath --relative-to="$dir" "$here")"
    namespace="$(sed -n 's/^namespace: *//p' "$here/overlays/$overlay/kustomization.yaml")"
    {
        echo "apiVersion: kustomize.config.k8s.io/v1beta1"
        echo "kind: Kustomization"
        echo "namespace: $namespace"
        echo "resources: [$rel/overlays/$overlay]"
        echo "components:"
        for component in ${components//+/ }; do
            echo "  - $rel/components/$component"
        done
    } >"$dir/kustomization.yaml"
    "$kubectl" kustomize "$dir" >"$out/$variant.yaml"
done
echo "rendered ${#variants[@]} variants into $out"
