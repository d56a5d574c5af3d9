#!/bin/sh
# Creates (idempotently) a separate venv with Stable-Baselines3 for the learner
# benchmark's reference figure. It never modifies the project's .venv: the new
# venv sees .venv's packages (torch, numpy, gymnasium, ...) through a .pth file
# and installs only stable-baselines3 and pandas on top (--no-deps, so no second
# torch is downloaded). Prints the venv's python on success.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BASE_PY="$ROOT/.venv/bin/python"
VENV=/var/cache/sac-cluster/venv-sb3
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import stable_baselines3" 2>/dev/null; then
  "$BASE_PY" -m venv --without-pip "$VENV" >&2 || python3 -m venv "$VENV" >&2
  BASE_SITE=$("$BASE_PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  SITE=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  echo "$BASE_SITE" > "$SITE/_sac_base_venv.pth"
  "$VENV/bin/python" -m pip install --quiet --no-deps --target "$SITE" stable-baselines3 pandas >&2
fi
"$VENV/bin/python" -c "import stable_baselines3" >/dev/null
echo "$VENV/bin/python"
