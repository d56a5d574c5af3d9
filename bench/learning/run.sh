#!/usr/bin/env bash
# One reproducible learning experiment on a local cluster:
#   bench/learning/run.sh TASK VARIANT SEED STEPS [OUT_DIR [SACCTL_LOCAL_FLAG...]]
# e.g. bench/learning/run.sh HalfCheetah-v5 v1 0 200000
#      bench/learning/run.sh HalfCheetah-v5 v2 0 200000 runs/learning/hc_v2_bf16_seed0 \
#          --learner_flag=--sac.matmul_dtype=bfloat16
# Trains TASK with the paper's settings (SAC VARIANT, seed SEED) until STEPS env
# steps, evaluating every 5000 steps over 10 deterministic episodes, and leaves
# its run directory in OUT_DIR (default runs/learning/TASK_VARIANT_seedSEED; flags
# after it go to `sacctl local` as they are), whose
# learner/eval.csv is the learning curve (`sacctl plot` draws it). The settings
# are written beside it (command.txt) so the run can be repeated exactly.
# Cluster: 1 replay shard, 1 actor with 1 env, 1 learner thread (the 2-core
# development machine); the paper's update-to-data ratio (one batch-256 update
# per env step) is held by the shard's rate limiter.
set -euo pipefail
if [ $# -lt 4 ]; then
  sed -n '2,12p' "$0" >&2
  exit 2
fi
task=$1 variant=$2 seed=$3 steps=$4
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${5:-$repo/runs/learning/${task}_${variant}_seed${seed}}"
shift $(( $# < 5 ? $# : 5 ))
sacctl="$repo/build/bin/sacctl"
[ -x "$sacctl" ] || { echo "run.sh: build first (make build)" >&2; exit 1; }
mkdir -p "$out"
cmd=("$sacctl" local "--task=$task" "--variant=$variant" "--seed=$seed"
     "--max_env_steps=$steps" "--run_dir=$out" --shards=1 --actors=1 --envs_per_actor=1
     --learner_threads=1 --eval_every_env_steps=5000 --eval_episodes=10
     --random_steps=10000 --min_replay_size=10000 --plain_progress
     --progress_interval_seconds=30 "$@")
printf '%q ' "${cmd[@]}" > "$out/command.txt"
echo >> "$out/command.txt"
echo "run.sh: $task $variant seed $seed for $steps env steps -> $out"
start=$(date +%s)
"${cmd[@]}"
echo "run.sh: done in $(( $(date +%s) - start )) s; curve: $out/learner/eval.csv"
