#!/usr/bin/env bash
# Build the book: install what is missing into .venv, execute every chapter,
# render the HTML and print where it is. Extra arguments go to build_book.py
# (e.g. --quick for the short CI profile).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/build_book.py "$@"
