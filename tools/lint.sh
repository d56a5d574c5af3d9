#!/usr/bin/env bash
# clang-tidy, with the checks of the repo's .clang-tidy, over every translation
# unit of ours in the build's compile_commands.json (generated protobuf code
# and third-party headers excluded: .clang-tidy's HeaderFilterRegex). Any
# finding fails. `make lint` runs it after a build.
# Usage: tools/lint.sh [SOURCE_DIR] [BUILD_DIR] [JOBS]
set -euo pipefail
src=$(cd "${1:-$(dirname "$0")/..}" && pwd)
build=$(cd "${2:-$src/build}" && pwd)
jobs=${3:-$(nproc)}
if ! command -v clang-tidy >/dev/null; then
  echo "lint: clang-tidy is not installed (deploy/install-deps.sh installs it)" >&2
  exit 2
fi
if [ ! -f "$build/compile_commands.json" ]; then
  echo "lint: $build/compile_commands.json is missing: configure the build first (make build)" >&2
  exit 2
fi
# Our sources: every .cc the build compiles from the source tree (generated
# code lives in the build tree and is left out).
mapfile -t files < <(python3 - "$src" "$build" "$build/compile_commands.json" <<'PY'
import json, os, sys
src, build, db = sys.argv[1], sys.argv[2], sys.argv[3]
seen = set()
for entry in json.load(open(db)):
    path = os.path.normpath(os.path.join(entry["directory"], entry["file"]))
    rel = os.path.relpath(path, src)
    in_build = os.path.commonpath([path, build]) == build
    if not rel.startswith("..") and not in_build and rel.endswith(".cc") and rel not in seen:
        seen.add(rel)
        print(rel)
PY
)
echo "lint: clang-tidy over ${#files[@]} files, $jobs at a time"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cd "$src"
# GCC-only warning flags in the compile commands are not findings.
if ! printf '%s\n' "${files[@]}" | xargs -P "$jobs" -n 4 clang-tidy -p "$build" --quiet \
    --warnings-as-errors='*' --extra-arg=-Wno-unknown-warning-option >"$log" 2>&1; then
  grep -E "(warning|error):" "$log" | sort -u
  echo "lint: $(grep -cE '(warning|error):' "$log" | tr -d ' ') findings (above); .clang-tidy lists the checks"
  exit 1
fi
echo "lint: clean"
