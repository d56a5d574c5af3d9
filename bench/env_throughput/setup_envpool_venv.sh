#!/bin/sh
# Creates (once) a separate venv with EnvPool from PyPI for the env_throughput
# bench's reference figure. Never touches the project's .venv.
# Usage: bench/env_throughput/setup_envpool_venv.sh [VENV_DIR]
set -eu
VENV="${1:-/var/cache/sac-cluster/venv-envpool}"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import envpool" 2>/dev/null; then
  echo "envpool venv ready: $VENV"
  exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet envpool numpy
"$VENV/bin/python" -c "import envpool; print('envpool', envpool.__version__, 'in', '$VENV')"
