"""Fetch the third-party JavaScript the built book needs, so it renders offline.

Jupyter Book v1 pages load require.js and the ipywidgets HTML manager (for
pages with widget state) and MathJax 3 (for pages with maths) from CDNs by
default. This module downloads pinned versions of those npm packages with
``npm pack`` (the npm registry only), checks each tarball against a pinned
sha512 integrity, and unpacks the files the pages load into

    vendor/html/_vendor/{require,html-manager,mathjax}/

``vendor/`` is git-ignored: third-party code is never committed. ``_config.yml``
lists ``vendor/html`` in ``html_extra_path``, so Sphinx copies ``_vendor/`` to
the root of the HTML output, and points ``mathjax_path`` / ``nb_ipywidgets_js``
at it.

Run ``python scripts/vendor.py`` to fetch by hand; ``scripts/build_book.py``
calls :func:`fetch_vendor` itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "vendor"
# What html_extra_path in _config.yml points at; its content lands in _build/html/.
HTML_EXTRA = VENDOR / "html"
OUT = HTML_EXTRA / "_vendor"
STAMP = OUT / "VERSIONS.json"


@dataclass(frozen=True)
class Package:
    """One pinned npm package and the files of it that the pages load."""

    name: str
    version: str
    integrity: str  # npm's dist.integrity of the tarball
    dest: str  # folder under vendor/html/_vendor/
    # (path inside the tarball's package/ folder, glob) pairs to copy, keeping
    # their layout relative to that path
    files: tuple[tuple[str, str], ...]

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"


PACKAGES = (
    Package(
        name="requirejs",
        version="2.3.8",
        integrity="sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==",
        dest="require",
        files=((".", "require.js"), (".", "package.json")),
    ),
    Package(
        # 1.0.x is the HTML manager of ipywidgets 8 (widget state format 2.x)
        name="@jupyter-widgets/html-manager",
        version="1.0.15",
        integrity="sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
        dest="html-manager",
        # the AMD bundle plus the icon fonts its CSS refers to (relative URLs)
        files=(
            ("dist", "embed-amd.js"),
            ("dist", "embed.js.LICENSE.txt"),
            ("dist", "*.woff2"),
            ("dist", "*.woff"),
            ("dist", "*.ttf"),
            ("dist", "*.eot"),
            ("dist", "*.svg"),
            (".", "package.json"),
        ),
    ),
    Package(
        name="mathjax",
        version="3.2.2",
        integrity="sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
        dest="mathjax",
        # the combined component Sphinx loads, and everything it may load
        # lazily (TeX extensions via autoload, CHTML fonts, menu, a11y)
        files=(
            ("es5", "tex-mml-chtml.js"),
            ("es5", "input/**/*"),
            ("es5", "output/chtml/**/*"),
            ("es5", "output/chtml.js"),
            ("es5", "a11y/**/*"),
            ("es5", "ui/**/*"),
            ("es5", "adaptors/**/*"),
            ("es5", "sre/**/*"),
            (".", "LICENSE"),
        ),
    ),
)


def _expected_stamp() -> dict[str, str]:
    return {p.name: f"{p.version} {p.integrity}" for p in PACKAGES}


def vendor_ready() -> bool:
    """True when vendor/ holds exactly the pinned versions."""
    try:
        return json.loads(STAMP.read_text()) == _expected_stamp()
    except (OSError, ValueError):
        return False


def _integrity(path: Path) -> str:
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def _npm_pack(pkg: Package, workdir: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed")
    proc = subprocess.run(
        [npm, "pack", pkg.spec, "--silent", "--pack-destination", str(workdir)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"`npm pack {pkg.spec}` failed:\n{proc.stderr.strip()}")
    tarballs = [workdir / line.strip() for line in proc.stdout.splitlines() if line.strip()]
    tarballs = [t for t in tarballs if t.is_file()]
    if len(tarballs) != 1:
        raise RuntimeError(f"`npm pack {pkg.spec}` produced no tarball: {proc.stdout!r}")
    got = _integrity(tarballs[0])
    if got != pkg.integrity:
        raise RuntimeError(
            f"{pkg.spec}: integrity mismatch\n  expected {pkg.integrity}\n  got      {got}"
        )
    return tarballs[0]


def _unpack(pkg: Package, tarball: Path, workdir: Path, dest: Path) -> int:
    unpacked = workdir / pkg.dest
    with tarfile.open(tarball) as tar:
        tar.extractall(unpacked, filter="data")
    base = unpacked / "package"
    n = 0
    for sub, pattern in pkg.files:
        src_root = base / sub
        matches = [p for p in src_root.glob(pattern) if p.is_file()]
        if not matches:
            raise RuntimeError(f"{pkg.spec}: nothing matches {sub}/{pattern}")
        for src in matches:
            target = dest / src.relative_to(src_root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
            n += 1
    return n


def fetch_vendor(force: bool = False, log=print) -> bool:
    """Make vendor/html/_vendor/ hold the pinned packages.

    Returns True on success (or when already present), False when the files
    could not be fetched (npm missing, registry unreachable, bad checksum); the
    reason is logged. Never raises for those.
    """
    if not force and vendor_ready():
        return True
    try:
        with tempfile.TemporaryDirectory(prefix="anpolicy-vendor-") as tmp:
            work = Path(tmp)
            staged = work / "_vendor"
            for pkg in PACKAGES:
                tarball = _npm_pack(pkg, work)
                n = _unpack(pkg, tarball, work, staged / pkg.dest)
                log(f"[vendor] {pkg.spec}: {n} files")
            (staged / STAMP.name).write_text(json.dumps(_expected_stamp(), indent=1) + "\n")
            if OUT.exists():
                shutil.rmtree(OUT)
            OUT.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staged), OUT)
    except (RuntimeError, OSError, subprocess.SubprocessError, tarfile.TarError) as exc:
        log(f"[vendor] could not fetch the JavaScript packages: {exc}")
        return False
    return True


def main() -> int:
    force = "--force" in sys.argv[1:]
    ok = fetch_vendor(force=force)
    print(f"[vendor] {'ready' if ok else 'FAILED'}: {OUT}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
