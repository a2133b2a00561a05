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

# Notebooks never carry outputs into git: .gitattributes sends *.ipynb through the
# nbstripout clean filter, configured here in .git/config (idempotent: the same values
# every run). Relative path: git runs filters from the top of the working tree.
NBSTRIP='.venv/bin/python -m nbstripout --keep-id --extra-keys "metadata.papermill cell.metadata.papermill"'
if command -v git >/dev/null 2>&1 && [ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$PWD" ]; then
    git config filter.nbstripout.clean "$NBSTRIP"
    git config filter.nbstripout.smudge cat
    git config filter.nbstripout.required true
    git config diff.ipynb.textconv "$NBSTRIP -t"
    echo "[setup] git filter nbstripout: notebook outputs are stripped on git add"
else
    echo "[setup] not a git checkout: no nbstripout filter configured"
fi
