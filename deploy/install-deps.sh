#!/usr/bin/env bash
# Installs every build, test and runtime dependency of sac-cluster on Debian 12
# (bookworm): Debian packages, then the project venv from deploy/requirements.txt.
#
# Idempotent: a second run checks and changes nothing, in seconds.
# The venv lives outside the clone, keyed by the hash of requirements.txt
# ($SAC_CACHE_DIR/venv-<hash>, default /var/cache/sac-cluster), and `.venv` in the
# repository is a link to it, so every clone on a machine shares one venv.
#
# Usage: deploy/install-deps.sh [--no-venv] [--runtime-only] [--image-build] [--containers]
#   --no-venv        Debian packages only.
#   --runtime-only   only the packages needed to run the binaries, not to build them
#                    (the runtime stages of deploy/Dockerfile).
#   --image-build    what building the binaries needs and no development or test tools
#                    (the build stage of deploy/Dockerfile): compilers, -dev packages, venv.
#   --containers     also a Docker engine, docker-compose and debootstrap (make test-compose).
set -euo pipefail

die() { echo "install-deps: $*" >&2; exit 1; }

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_dir="${SAC_CACHE_DIR:-/var/cache/sac-cluster}"
want_venv=1
want_compile=1
want_dev=1
want_containers=0
for arg in "$@"; do
  case "$arg" in
    --no-venv) want_venv=0 ;;
    --runtime-only) want_compile=0; want_dev=0; want_venv=0 ;;
    --image-build) want_dev=0 ;;
    --containers) want_containers=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) die "unknown argument '$arg' (known: --no-venv, --runtime-only, --image-build, --containers)" ;;
  esac
done

if [ -r /etc/os-release ]; then
  . /etc/os-release
  [ "${ID:-}" = debian ] && [ "${VERSION_ID:-}" = 12 ] ||
    echo "install-deps: warning: made for Debian 12, this is ${PRETTY_NAME:-unknown}" >&2
fi

# Runtime libraries of the binaries (the runtime stages of the image need only these).
runtime_pkgs=(
  ca-certificates libgrpc++1.51 libprotobuf32 libabsl20220623 libcpp-httplib0.11
  libgomp1 libopenblas0 curl
)
# What building the binaries needs (the image's build stage).
compile_pkgs=(
  build-essential g++-12 cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libgtest-dev libgmock-dev libbenchmark-dev libeigen3-dev libopenblas-dev libcpp-httplib-dev
  python3 python3-venv python3-dev
)
# Development and test tools on top.
dev_pkgs=(
  ccache git prometheus openssl docker-compose gnuplot-nox
  clang libclang-rt-14-dev clang-format clang-tidy procps iproute2
)
# A container engine for make test-compose (Debian's Docker 20.10, containerd, runc;
# docker-compose is among the development tools).
container_pkgs=(docker.io debootstrap iptables)
pkgs=("${runtime_pkgs[@]}")
[ "$want_compile" = 0 ] || pkgs+=("${compile_pkgs[@]}")
[ "$want_dev" = 0 ] || pkgs+=("${dev_pkgs[@]}")
[ "$want_containers" = 0 ] || pkgs+=("${container_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "need root to install ${missing[*]}: run 'sudo $0'"
  echo "install-deps: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed: no network or no reachable Debian mirror (check /etc/apt/sources.list and the proxy)"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    die "apt-get install failed for: ${missing[*]} (see the apt output above)"
  # Debian's prometheus package starts a system service on install; we only use the
  # binaries (our tests start their own server on a loopback port).
  if [ -d /run/systemd/system ] && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
else
  echo "install-deps: Debian packages present"
fi

[ "$want_venv" = 1 ] || exit 0

req="$repo_root/deploy/requirements.txt"
[ -r "$req" ] || die "missing $req"
hash="$(sha256sum "$req" | cut -c1-16)"
venv="$cache_dir/venv-$hash"
if [ ! -f "$venv/.sac-complete" ]; then
  mkdir -p "$cache_dir" 2>/dev/null || die "cannot create $cache_dir: run as root or set SAC_CACHE_DIR to a writable folder"
  rm -rf "$venv"
  echo "install-deps: creating venv $venv (torch with CUDA is about 5 GB; minutes on first run)"
  python3 -m venv "$venv" || die "python3 -m venv failed: install python3-venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null ||
    die "pip cannot reach the package index (PyPI): check the network and /etc/pip.conf"
  "$venv/bin/python" -m pip install --quiet -r "$req" ||
    die "pip install -r deploy/requirements.txt failed (see pip's message above)"
  touch "$venv/.sac-complete"
else
  echo "install-deps: venv present ($venv)"
fi
# The deploy tests' checkers (kubectl/kustomize, Kubernetes schemas, Dockerfile
# parser) live in a venv of their own, pinned in that script (not in an image build).
if [ "$want_dev" = 1 ]; then
  bash "$repo_root/tests/deploy/install-tools.sh" >/dev/null ||
    die "installing the deploy checkers failed (see tests/deploy/install-tools.sh's message above)"
fi
if [ "$(readlink "$repo_root/.venv" 2>/dev/null)" != "$venv" ]; then
  [ -e "$repo_root/.venv" ] && [ ! -L "$repo_root/.venv" ] && die "$repo_root/.venv exists and is not a link: remove it"
  ln -sfn "$venv" "$repo_root/.venv"
  echo "install-deps: .venv -> $venv"
fi
