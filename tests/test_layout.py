"""The package's folders are its layers: ``stats`` < ``sim`` < ``store`` < ``training`` <
``study`` < ``report``; a module imports only from its own layer and the layers before it
(every ``anpolicy`` import counts, also those inside functions). The facade
(``anpolicy/__init__.py``) and the command line (``__main__.py`` and its parts in
``cli/``) sit on top: nothing in a layer imports them."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import REPO

PKG = REPO / "anpolicy"
LAYERS = ["stats", "sim", "store", "training", "study", "report"]


def _layer(module: str) -> int | None:
    """Rank of ``anpolicy.<layer>...``; None for the top (the package itself, __main__)."""
    parts = module.split(".")
    if parts[0] != "anpolicy" or len(parts) < 2 or parts[1] not in LAYERS:
        return None
    return LAYERS.index(parts[1])


def _imports(path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "anpolicy":  # from anpolicy import stats
                out += [f"anpolicy.{a.name}" for a in node.names]
            else:
                out.append(node.module)
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names]
    return [m for m in out if m == "anpolicy" or m.startswith("anpolicy.")]


MODULES = sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PKG)))
def test_module_imports_only_its_own_and_earlier_layers(path):
    rel = path.relative_to(PKG).with_suffix("")
    own = _layer(".".join(("anpolicy", *rel.parts)))
    if own is None:
        return  # the facade and the command line may import every layer
    for module in _imports(path):
        other = _layer(module)
        assert other is not None and other <= own, (
            f"anpolicy/{rel}.py ({LAYERS[own]}) imports {module}"
            + (f" ({LAYERS[other]}, a later layer)" if other is not None else " (the facade)")
        )


def test_every_module_lives_in_a_layer():
    top = sorted(p.name for p in PKG.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "stats.py"]
    folders = sorted(p.name for p in PKG.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert folders == sorted([*LAYERS[1:], "cli"])
    for folder in [*LAYERS[1:], "cli"]:
        init = PKG / folder / "__init__.py"
        assert "May import" in init.read_text(encoding="utf-8"), (
            f"{init} says nothing of its imports"
        )


MAX_LINES = 420  # "no module over ~400 lines": one job per module


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if p.relative_to(PKG).parts[0] != "report"],
    ids=lambda p: str(p.relative_to(PKG)),
)
def test_no_module_is_longer_than_one_job(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"anpolicy/{path.relative_to(PKG)} has {n} lines: split it by job"
