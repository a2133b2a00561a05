#!/usr/bin/env bash
# Open the explorer in JupyterLab, served on 127.0.0.1 only.
#
#   bash scripts/lab.sh                 open book/explorer.ipynb (the tracked notebook;
#                                       the nbstripout git filter keeps your outputs out
#                                       of git)
#   bash scripts/lab.sh --copy          open a fresh, untracked copy of it instead, in
#                                       $ANPOLICY_PLAY_DIR (default ~/.cache/anpolicy/play)
#   bash scripts/lab.sh [--copy] ARGS   ARGS go to `jupyter lab` (e.g. --port 8890,
#                                       --no-browser, --IdentityProvider.token=...)
#
# Works as a user and as root (root gets --allow-root, which Jupyter demands). Run the
# setup first (bash scripts/setup.sh; bash .ci/run does it too).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
JUPYTER="$ROOT/.venv/bin/jupyter"
if [ ! -x "$JUPYTER" ]; then
    echo "lab.sh: $JUPYTER not found; run 'bash scripts/setup.sh' first" >&2
    exit 1
fi

copy=0
args=()
for a in "$@"; do
    case "$a" in
        --copy) copy=1 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) args+=("$a") ;;
    esac
done

if [ "$copy" -eq 1 ]; then
    dir="${ANPOLICY_PLAY_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/anpolicy/play}"
    mkdir -p "$dir"
    cp "$ROOT/book/explorer.ipynb" "$dir/explorer.ipynb"
    echo "lab.sh: playing in an untracked copy, $dir/explorer.ipynb"
    root_dir="$dir"
else
    root_dir="$ROOT"
fi
nb_path="$( [ "$copy" -eq 1 ] && echo explorer.ipynb || echo book/explorer.ipynb )"

extra=()
[ "$(id -u)" -eq 0 ] && extra+=(--allow-root)

cd "$root_dir"
exec "$JUPYTER" lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir="$root_dir" \
    ${extra[@]+"${extra[@]}"} ${args[@]+"${args[@]}"} "$nb_path"
