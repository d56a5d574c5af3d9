#!/bin/sh
# Runs one libFuzzer target for a bounded time: first every input of the
# committed corpus (seeds and regression inputs, replayed), then fuzzing.
# usage: run_fuzzer.sh BINARY SEED_CORPUS WORK_DIR DEFAULT_SECONDS
# FUZZ_SECONDS overrides DEFAULT_SECONDS. New interesting inputs go to
# WORK_DIR/corpus (kept between runs of this build tree), crashes to
# WORK_DIR/artifacts/, the whole log to WORK_DIR/last.log and one line of
# figures to WORK_DIR/summary.txt. Exit status: libFuzzer's (non-zero on any
# crash, sanitizer report, violated property, leak, timeout or out-of-memory).
set -u
bin=$1 seeds=$2 work=$3
seconds=${FUZZ_SECONDS:-$4}
name=$(basename "$bin")
mkdir -p "$work/corpus" "$work/artifacts"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=1:abort_on_error=1:symbolize=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:print_stacktrace=1:halt_on_error=1"
# Hard stop in case the target hangs outside an input (libFuzzer's -timeout
# covers a single input).
timeout --signal=KILL $((seconds + 300)) "$bin" \
  -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2560 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds" >"$work/last.log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/last.log" | tail -n 1)
cov=$(grep -o 'cov: [0-9]*' "$work/last.log" | tail -n 1)
corpus=$(ls "$work/corpus" | wc -l)
seeds_n=$(ls "$seeds" | wc -l)
line="$name: ${runs:-?} inputs in ${seconds} s, ${cov:-cov: ?} edges, corpus $seeds_n committed + $corpus found, exit $rc"
echo "$line" >"$work/summary.txt"
echo "$line"
if [ "$rc" -ne 0 ]; then
  tail -n 80 "$work/last.log"
  echo "crash inputs: $(ls "$work/artifacts")"
fi
exit "$rc"
