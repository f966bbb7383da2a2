#!/bin/sh
# Helm post-renderer (Helm 3) that applies ratify-patch.yaml to what Ratify's chart renders, so
# every `helm install` and `helm upgrade` keeps the plugin's volumes without touching the chart's
# own args, volumes or mounts:
#   helm upgrade --install ratify ratify/ratify -n gatekeeper-system -f ratify-values.yaml \
#     --set image.repository=<registry>/ratify-atproto --set image.tag=v1.4.0 \
#     --post-renderer ./ratify-post-renderer.sh
# Needs `kubectl` 1.21 or later (its built-in kustomize). Reads the manifests on stdin, writes
# them on stdout.
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
cat > "$work/chart.yaml"
cp "$here/ratify-patch.yaml" "$work/ratify-patch.yaml"
cat > "$work/kustomization.yaml" <<'YAML'
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - chart.yaml
patches:
  - path: ratify-patch.yaml
YAML
kubectl kustomize "$work"
