#!/bin/sh
# Entrypoint of the sac-cluster image: runs "$@" (a binary name from PATH and its
# flags), filling in the per-replica identity that a scaled service cannot write
# into its shared command line:
#   sac-actor without --actor_id: --actor_id=<hash of the hostname> (a container
#     id under docker compose, a pod name under Kubernetes: distinct per replica;
#     31-bit CRC, so two of N replicas collide with probability about N^2/2^32).
#     SAC_ACTOR_ID overrides the hash.
#   sac-replay without --shard_index, on a host named <name>-<N> (a StatefulSet
#     pod): --shard_index=N.
# The hostname comes from $HOSTNAME, else `hostname`. Any other command runs as is.
set -eu

host="${HOSTNAME:-$(hostname)}"
has_flag() {  # has_flag NAME ARGS...: is --NAME=... or --NAME given?
  name="$1"; shift
  for a in "$@"; do
    case "$a" in --"$name"=*|--"$name") return 0 ;; esac
  done
  return 1
}

if [ "$#" -gt 0 ]; then
  case "$(basename "$1")" in
    sac-actor)
      if ! has_flag actor_id "$@"; then
        if [ -n "${SAC_ACTOR_ID:-}" ]; then
          id="$SAC_ACTOR_ID"
        else
          id=$(( $(printf '%s' "$host" | cksum | cut -d' ' -f1) % 2147483648 ))
        fi
        set -- "$@" "--actor_id=$id"
      fi
      ;;
    sac-replay)
      if ! has_flag shard_index "$@"; then
        ordinal="${host##*-}"
        case "$ordinal" in
          ''|*[!0-9]*) ;;  # not a StatefulSet pod name: keep the config's shard_index
          *) set -- "$@" "--shard_index=$ordinal" ;;
        esac
      fi
      ;;
  esac
fi
exec "$@"
