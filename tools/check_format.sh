#!/usr/bin/env bash
# Checks that every C++ file of the tree is formatted as .clang-format says
# (`make format` applies it). Prints the files that differ, one per line, and
# exits 1 when there is any; exits 2 when clang-format is missing.
# Usage: tools/check_format.sh [SOURCE_DIR]   (ctest runs it as format_check)
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
if ! command -v clang-format >/dev/null; then
  echo "check_format: clang-format is not installed (deploy/install-deps.sh installs it)" >&2
  exit 2
fi
# The tracked files when this is a git checkout; otherwise every .cc/.h outside
# build trees (a source tarball, the image's build stage).
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -- '*.cc' '*.h')
else
  mapfile -t files < <(find . -path './build*' -prune -o -path './.venv' -prune -o \
    \( -name '*.cc' -o -name '*.h' \) -type f -print | sed 's#^\./##' | sort)
fi
bad=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue  # deleted in the work tree, not yet committed
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done
if [ "${#bad[@]}" -gt 0 ]; then
  echo "check_format: ${#bad[@]} of ${#files[@]} files differ from .clang-format (make format fixes them):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "check_format: ${#files[@]} files formatted"
