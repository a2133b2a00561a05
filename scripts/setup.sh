#!/usr/bin/env bash
# Create .venv (if missing) and install requirements.txt + this package into it,
# skipping the install when nothing changed since the last successful one.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv"
    "$PY" -m venv .venv
fi

stamp=.venv/.anpolicy-installed
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && .venv/bin/python -c "import anpolicy" 2>/dev/null; then
    echo "[setup] .venv is up to date"
else
    echo "[setup] installing requirements.txt and the anpolicy package into .venv"
    .venv/bin/python -m pip install --quiet -r requirements.txt
    .venv/bin/python -m pip install --quiet --no-deps -e .
    echo "$want" > "$stamp"
fi

# torch must be the CPU build: a CUDA build means pip reached for the wrong wheel.
if ! .venv/bin/python -c "import sys, torch; sys.exit(torch.version.cuda is not None)"; then
    echo "[setup] WARNING: the installed torch is a CUDA build; this project expects the CPU wheel" >&2
fi
