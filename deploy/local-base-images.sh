#!/usr/bin/env bash
# Makes sure the base images that deploy/Dockerfile and docker-compose.yml name are
# in the local Docker engine, for hosts whose image registries do not answer
# (air-gapped or proxied labs; our own machines reach only Debian's mirror and PyPI).
#
# For each image: present -> nothing; pullable -> pulled; otherwise a stand-in is
# built here and one line says so:
#   debian:bookworm, debian:bookworm-slim
#       debootstrap --variant=minbase bookworm from the Debian mirror, then
#       `docker import`; the -slim tag leaves out docs, man pages and locales the
#       way the official slim image does.
#   prom/prometheus:<tag of docker-compose.yml>
#       Debian's `prometheus` package on the slim image (deploy/prometheus/Dockerfile.debian),
#       with the official image's entrypoint, user, paths and `wget` for compose's
#       healthcheck. Debian ships Prometheus 2.42; the scrape config we use reads the same.
# No certificate of this host goes into these images: a build that needs a local CA
# gets it through deploy/build-ca/ (docs/deploy.md, "Hosts behind a proxy").
#
# Usage: deploy/local-base-images.sh            (idempotent; needs root for debootstrap)
# Env:   SAC_DEBIAN_MIRROR (default http://deb.debian.org/debian)
set -euo pipefail

die() { echo "local-base-images: $*" >&2; exit 1; }
say() { echo "local-base-images: $*"; }

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mirror="${SAC_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
docker info >/dev/null 2>&1 || die "no Docker engine answers (start dockerd, or run make test-compose, which starts one)"

prom_image="$(sed -n 's/^ *image: *\(prom\/prometheus:[^ ]*\).*/\1/p' "$repo_root/docker-compose.yml" | head -n 1)"
[ -n "$prom_image" ] || die "docker-compose.yml names no prom/prometheus image"

have() { docker image inspect "$1" >/dev/null 2>&1; }
# A registry that does not answer says so at once here; the timeout covers one that hangs.
pullable() { timeout 120 docker pull -q "$1" >/dev/null 2>&1; }

rootfs=""
cleanup() { [ -z "$rootfs" ] || rm -rf "$rootfs"; }
trap cleanup EXIT

debootstrap_once() {
  [ -z "$rootfs" ] || return 0
  command -v debootstrap >/dev/null || die "debootstrap is not installed (deploy/install-deps.sh --containers)"
  rootfs="$(mktemp -d /var/tmp/sac-bookworm.XXXXXX)"
  say "debootstrap --variant=minbase bookworm from $mirror (about a minute)"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 ||
    { tail -n 20 "$rootfs.log" >&2; die "debootstrap failed (log above)"; }
  rm -f "$rootfs.log"
  # The sources of the official image: the release, its updates and security.
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # What the official images set: no package caches or translations kept.
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  : >"$rootfs/etc/hostname"
  : >"$rootfs/etc/resolv.conf"
}

import_rootfs() {  # import_rootfs TAG
  tar -C "$rootfs" --numeric-owner -c . |
    docker import --change 'CMD ["bash"]' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --message "sac-cluster stand-in: debootstrap minbase bookworm" - "$1" >/dev/null ||
    die "docker import of $1 failed"
}

ensure_debian() {  # ensure_debian TAG SLIM(0|1)
  local tag="$1" slim="$2"
  have "$tag" && return 0
  if pullable "$tag"; then say "pulled $tag"; return 0; fi
  debootstrap_once
  if [ "$slim" = 1 ]; then
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
    find "$rootfs/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete 2>/dev/null || true
    rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
           "$rootfs"/usr/share/groff/* "$rootfs"/usr/share/lintian/*
  fi
  import_rootfs "$tag"
  say "$tag cannot be pulled here: built a stand-in from Debian's mirror (debootstrap minbase + docker import, $(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
}

# The full image first: the slim one changes the shared rootfs.
ensure_debian debian:bookworm 0
ensure_debian debian:bookworm-slim 1

if ! have "$prom_image"; then
  if pullable "$prom_image"; then
    say "pulled $prom_image"
  else
    log="$(mktemp)"
    docker build -t "$prom_image" -f "$repo_root/deploy/prometheus/Dockerfile.debian" \
      "$repo_root/deploy/prometheus" >"$log" 2>&1 ||
      { tail -n 20 "$log" >&2; rm -f "$log"; die "building the Prometheus stand-in failed (log above)"; }
    rm -f "$log"
    say "$prom_image cannot be pulled here: built a stand-in from Debian's prometheus package ($(docker run --rm --entrypoint /bin/prometheus "$prom_image" --version 2>&1 | head -n 1))"
  fi
fi
