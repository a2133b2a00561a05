"""``import anpolicy as ap``: the names chapters read resolve, lazily."""

from __future__ import annotations

import subprocess
import sys
import types

import anpolicy as ap


def test_every_name_in_all_resolves():
    for name in ap.__all__:
        value = getattr(ap, name)
        assert value is not None, name
    assert isinstance(ap.plots, types.ModuleType) and ap.plots.__name__ == "anpolicy.report.plots"
    assert ap.rollout.__module__ == "anpolicy.sim.rollout"
    assert set(ap.__all__) <= set(dir(ap))


def test_unknown_names_raise_attribute_error():
    try:
        ap.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("ap.no_such_name did not raise")


def test_importing_the_package_stays_light():
    code = (
        "import sys, anpolicy\n"
        "heavy = [m for m in ('torch', 'numba', 'matplotlib', 'pandas', 'anpolicy.report.plots')"
        " if m in sys.modules]\n"
        "print(', '.join(heavy))\n"
        "sys.exit(1 if heavy else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, f"import anpolicy loaded {out.stdout.strip()} {out.stderr}"
