#!/usr/bin/env bash
# Redraws every figure of docs/results.md from the committed evaluation logs
# (docs/results/<run>/eval.csv) with `sacctl plot`:
#   bench/learning/figures.sh [OUT_DIR]     (default: docs/results)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
sacctl="$repo/build/bin/sacctl"
[ -x "$sacctl" ] || { echo "figures.sh: build first (make build)" >&2; exit 1; }
r="$repo/docs/results"
out="${1:-$r}"
mkdir -p "$out"
plot() { "$sacctl" plot "$@"; }

plot "v1 (V network, reward scale 5):$r/HalfCheetah-v5_v1_seed0" \
     "v2 (learned temperature):$r/HalfCheetah-v5_v2_seed0" \
     --title "HalfCheetah-v5: autograd learner 2026-11-25, seed 0" --out "$out/halfcheetah.png"
plot "v1 (V network, reward scale 5):$r/Hopper-v5_v1_seed0" \
     "v2 (learned temperature):$r/Hopper-v5_v2_seed0" \
     --title "Hopper-v5: autograd learner 2026-11-25, seed 0" --out "$out/hopper.png"
plot "HalfCheetah v1:$r/HalfCheetah-v5_v1_seed0" "HalfCheetah v2:$r/HalfCheetah-v5_v2_seed0" \
     --reference "$r/reference_halfcheetah.csv" \
     --title "HalfCheetah-v5 to 200k; marks: the papers' curves at 1M" \
     --out "$out/halfcheetah_with_paper.png"
plot "Hopper v1:$r/Hopper-v5_v1_seed0" "Hopper v2:$r/Hopper-v5_v2_seed0" \
     --reference "$r/reference_hopper.csv" \
     --title "Hopper-v5 to 200k; marks: the papers' curves at 1M" \
     --out "$out/hopper_with_paper.png"
plot "autograd learner 2026-11-25, seed 0:$r/HalfCheetah-v5_v2_seed0" \
     "float32, seeds 0-1:$r/HalfCheetah-v5_v2_float32_seed0" \
     "float32, seeds 0-1:$r/HalfCheetah-v5_v2_float32_seed1" \
     "bfloat16, seeds 0-1:$r/HalfCheetah-v5_v2_bfloat16_seed0" \
     "bfloat16, seeds 0-1:$r/HalfCheetah-v5_v2_bfloat16_seed1" \
     --title "HalfCheetah-v5, SAC v2: float32 vs bfloat16 products" \
     --out "$out/halfcheetah_v2_matmul_dtype.png"
# Hopper v1 against v2: each group's seeds as a mean with a +-1 std band
# (v2's seed 0 is the autograd run; the reward-scale-20 seeds 1 and 2 ran
# with bfloat16 products).
shopt -s nullglob
scale20=("$r/Hopper-v5_v1_rewardscale20_float32_seed0" "$r"/Hopper-v5_v1_rewardscale20_bfloat16_seed*)
scale20_label="v1 reward scale 20, seeds 0-$(( ${#scale20[@]} - 1 ))"
plot "v1, seeds 0-2:$r/Hopper-v5_v1_float32_seed0" "v1, seeds 0-2:$r/Hopper-v5_v1_float32_seed1" \
     "v1, seeds 0-2:$r/Hopper-v5_v1_float32_seed2" \
     "${scale20[@]/#/$scale20_label:}" \
     "v2, seeds 0-2:$r/Hopper-v5_v2_seed0" "v2, seeds 0-2:$r/Hopper-v5_v2_bfloat16_seed1" \
     "v2, seeds 0-2:$r/Hopper-v5_v2_bfloat16_seed2" \
     --title "Hopper-v5: SAC v1 (reward scale 5 and 20) against v2" \
     --out "$out/hopper_v1_seeds.png"
# Walker2d, Ant, Humanoid: v2 with bfloat16 products to 300k, each seed its own
# curve, with the papers' 1M readings.
for task in Walker2d Ant Humanoid; do
  lower=${task,,}
  runs=()
  for d in "$r/$task-v5_v2_bfloat16_seed"*; do
    runs+=("v2 bfloat16, seed ${d##*seed}:$d")
  done
  plot "${runs[@]}" --reference "$r/reference_$lower.csv" \
       --title "$task-v5, SAC v2 to 300k; marks: the papers' curves at 1M" \
       --out "$out/$lower.png"
done
# Hopper: what of v2's lead over v1 is its learned temperature (v2 with alpha
# held at 0.2, v1's level in reward units, and at 0.065, where v2's learned
# alpha settles), each group's seeds as a mean with a +-1 std band.
hopper_group() {  # LABEL RUN...
  local label=$1; shift
  for d in "$@"; do printf '%s\n' "$label:$d"; done
}
mapfile -t temperature_runs < <(
  hopper_group "v1 (V network, alpha 0.2), seeds 0-2" "$r"/Hopper-v5_v1_float32_seed*
  hopper_group "v2, alpha fixed at 0.2, seeds 0-2" "$r"/Hopper-v5_v2_fixedalpha0.2_bfloat16_seed*
  hopper_group "v2, alpha fixed at 0.065, seeds 0-2" "$r"/Hopper-v5_v2_fixedalpha0.065_bfloat16_seed*
  hopper_group "v2, alpha learned, seeds 0-2" "$r/Hopper-v5_v2_seed0" "$r"/Hopper-v5_v2_bfloat16_seed*)
plot "${temperature_runs[@]}" --title "Hopper-v5: v2 with a fixed temperature, between v1 and v2" \
     --out "$out/hopper_v2_temperature.png"
