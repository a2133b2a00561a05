"""Measured results shared between chapters (one source of truth for the verdicts).

Each experiment chapter saves its key numbers with `save_results`; the conclusions
chapter (and the introduction's summary table, through it) reads them with
`load_results`. Files live in ``_build/results/<chapter>.json`` (``ANPOLICY_RESULTS``
overrides the folder).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from anpolicy.store.files import write_atomic

REPO = Path(__file__).resolve().parents[2]


def results_dir() -> Path:
    return Path(os.environ.get("ANPOLICY_RESULTS", REPO / "_build" / "results"))


def _plain(x):
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return x


def save_results(chapter: str, results: dict) -> Path:
    """Write ``results`` (JSON-able; numpy values are converted) for ``chapter``."""
    return write_atomic(results_dir() / f"{chapter}.json", json.dumps(_plain(results), indent=2))


def load_results(chapter: str) -> dict:
    """Read a chapter's results; a clear error says which chapter to run first."""
    path = results_dir() / f"{chapter}.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no results of chapter {chapter!r} at {path}: execute book/{chapter}.ipynb first "
            "(the book build runs every chapter before the conclusions)"
        )
    return json.loads(path.read_text())
