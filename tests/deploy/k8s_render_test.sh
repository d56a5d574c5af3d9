#!/usr/bin/env bash
# Renders the kustomize base and every overlay of deploy/k8s with the real kubectl
# (`kubectl kustomize`, kustomize v5), then validates every rendered object
# against the Kubernetes 1.37 schemas with kubernetes-validate --strict (unknown
# fields are errors). Usage: k8s_render_test.sh SOURCE_DIR OUT_DIR
set -euo pipefail
src="$1"; out="$2"
bin="$("$src/tests/deploy/install-tools.sh")" || { echo "FAIL: the Kubernetes tools did not install (tests/deploy/install-tools.sh)" >&2; exit 1; }
mkdir -p "$out"
dirs=("$src/deploy/k8s/base")
for o in "$src"/deploy/k8s/overlays/*/; do dirs+=("${o%/}"); done
[ "${#dirs[@]}" -ge 3 ] || { echo "FAIL: expected the base and at least the cpu and gpu overlays" >&2; exit 1; }
for d in "${dirs[@]}"; do
  name="$(basename "$d")"
  "$bin/kubectl" kustomize "$d" > "$out/$name.yaml" || { echo "FAIL: kubectl kustomize $d" >&2; exit 1; }
  objects="$(grep -c '^kind:' "$out/$name.yaml" || true)"
  [ "$objects" -ge 7 ] || { echo "FAIL: $d rendered only $objects objects" >&2; exit 1; }
  "$bin/kubernetes-validate" --strict --quiet "$out/$name.yaml" ||
    { echo "FAIL: $d: rendered objects do not validate against the Kubernetes schemas" >&2; exit 1; }
  echo "ok: $name: $objects objects rendered and valid ($("$bin/kubectl" version --client 2>/dev/null | tr '\n' ' '))"
done
