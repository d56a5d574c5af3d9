#!/usr/bin/env bash
# Proves the README's claim: on a fresh Debian 12 root (debootstrap minbase),
# `make test` (or any make target given) installs everything, builds and passes.
# Usage: deploy/fresh-machine-check.sh [ROOT_DIR] [MAKE_TARGET...]
# Needs root and debootstrap on the host. Takes a few minutes plus the venv
# download (about 5 GB). Not part of `make test`; results go in docs/.
set -euo pipefail
root="${1:-/var/tmp/sac-fresh-root}"
shift || true
targets=("${@:-test}")
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v debootstrap >/dev/null || { echo "fresh-machine-check: apt-get install debootstrap" >&2; exit 1; }
if [ ! -x "$root/usr/bin/apt-get" ]; then
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian
fi
# Let the package registries answer from inside, as on our machines.
cp /etc/resolv.conf "$root/etc/resolv.conf"
# debootstrap leaves no /etc/hosts; every installed Debian has one naming localhost.
[ -s "$root/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$root/etc/pip.conf"
if [ -d /usr/local/share/ca-certificates ]; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp -r /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
fi
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
trap 'umount "$root/proc" 2>/dev/null || true' EXIT
# The project as a fresh clone would have it (committed files only).
rm -rf "$root/root/sac-cluster"
mkdir -p "$root/root/sac-cluster"
git -C "$repo" archive HEAD | tar -x -C "$root/root/sac-cluster"
# `make` itself is the one thing a minimal root lacks to run the README's commands.
chroot "$root" /bin/bash -c "command -v make >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make >/dev/null)"
for t in "${targets[@]}"; do
  echo "== make $t (in $root)"
  chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/bash -c "cd /root/sac-cluster && make $t"
done
