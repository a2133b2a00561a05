"""Tang & Ha's published CartPoleSwingUpHarder agent: fetch, verify, resolve.

Both papers this book checks measured one agent: the weights Tang & Ha (2021)
published with "The Sensory Neuron as a Transformer: Permutation-Invariant Neural
Networks for Reinforcement Learning" (NeurIPS 2021, arXiv:2109.02869), repository
google/brain-tokyo-workshop, file ``AttentionNeuron/pretrained/cartpole_pi/model.npz``,
Apache License 2.0. The project never commits that file. This module

- `fetch` downloads it from the raw-file URL of the commit that added it (pinned, see
  `URL`), checks its SHA-256 before anything is written, and stores it in a git-ignored
  folder inside the project (`store_path`); a mismatch keeps nothing;
- `install_from` does the same for a local copy (``--from PATH``);
- `resolve` is the one place every caller (chapters, tests, the build) asks for the
  file: the stored copy, else ``../shared/reference/tang-ha-2021-cartpole-pi/model.npz``,
  else `AuthorsWeightsMissing`, whose message names the command that fetches it.

Environment overrides (tests and builds without the file use them):
``ANPOLICY_AUTHORS_STORE`` (folder of the stored copy), ``ANPOLICY_REFERENCE`` (the
shared folder), ``ANPOLICY_AUTHORS_URL`` (where `fetch` downloads from).

Command line: ``python -m anpolicy fetch-reference [--from PATH]``.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from anpolicy.store.files import write_atomic

REPO = Path(__file__).resolve().parents[2]

COMMIT = "e7c4e70eb8da381a009b43778d2317ae61c1f290"
REPOSITORY = "google/brain-tokyo-workshop"
FILE = "AttentionNeuron/pretrained/cartpole_pi/model.npz"
URL = f"https://raw.githubusercontent.com/{REPOSITORY}/{COMMIT}/{FILE}"
SHA256 = "300bf392e3a4e5f4524fb5828ad991653da3aaa6f6bc4150f2d99e672e13b3f8"
LICENSE = "Apache License 2.0"
CITATION = (
    "Yujin Tang and David Ha (2021). The Sensory Neuron as a Transformer: "
    "Permutation-Invariant Neural Networks for Reinforcement Learning. NeurIPS 2021, "
    "arXiv:2109.02869. Weights: github.com/google/brain-tokyo-workshop "
    f"(commit {COMMIT[:12]}, {FILE}), {LICENSE}."
)
COMMAND = "python -m anpolicy fetch-reference"
NAME = "tang-ha-2021-cartpole-pi"
MAX_BYTES = 1 << 20  # the file is ~4 kB; refuse anything far larger

__all__ = [
    "URL",
    "SHA256",
    "LICENSE",
    "CITATION",
    "COMMAND",
    "AuthorsWeightsError",
    "AuthorsWeightsMissing",
    "store_path",
    "shared_path",
    "resolve",
    "available",
    "fetch",
    "install_from",
    "ensure",
]


class AuthorsWeightsError(ValueError):
    """The authors' weights could not be fetched or installed (one-line message)."""


class AuthorsWeightsMissing(AuthorsWeightsError, FileNotFoundError):
    """Neither the stored copy nor the shared copy exists."""


def store_path() -> Path:
    """Where `fetch` and `install_from` keep the file (git-ignored)."""
    folder = os.environ.get("ANPOLICY_AUTHORS_STORE") or REPO / "data" / "reference" / NAME
    return Path(folder) / "model.npz"


def shared_path() -> Path:
    """The copy a shared checkout may hold (``../shared/reference/...``)."""
    folder = os.environ.get("ANPOLICY_REFERENCE") or REPO.parent / "shared" / "reference" / NAME
    return Path(folder) / "model.npz"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _verified(path: Path) -> bool:
    try:
        return sha256_of(path.read_bytes()) == SHA256
    except OSError:
        return False


def resolve() -> Path:
    """The authors' ``model.npz``: the stored copy, else the shared one (each used only
    if its SHA-256 matches), else `AuthorsWeightsMissing` naming the fetch command."""
    looked = []
    for path in (store_path(), shared_path()):
        if path.is_file():
            if _verified(path):
                return path
            looked.append(f"{path} (SHA-256 mismatch, ignored)")
        else:
            looked.append(str(path))
    raise AuthorsWeightsMissing(
        f"the authors' weights are missing (looked in {'; '.join(looked)}): "
        f"run `{COMMAND}` (or `{COMMAND} --from PATH` with a local copy)"
    )


def available() -> bool:
    """True when `resolve` finds a verified copy."""
    try:
        resolve()
    except AuthorsWeightsMissing:
        return False
    return True


def _keep(data: bytes, origin: str) -> Path:
    """Check ``data`` against `SHA256`; write it atomically to `store_path` only if it
    matches (a mismatch writes nothing)."""
    got = sha256_of(data)
    if got != SHA256:
        raise AuthorsWeightsError(
            f"{origin}: SHA-256 {got} does not match the pinned {SHA256}; nothing was kept"
        )
    dest = write_atomic(store_path(), data)
    (dest.parent / "SOURCE.txt").write_text(
        f"{origin}\nsha256 {SHA256}\n{CITATION}\nNot part of this project; never commit it.\n"
    )
    return dest


def fetch(url: str | None = None, timeout: float = 30.0) -> Path:
    """Download the weights (default `URL`, or ``ANPOLICY_AUTHORS_URL``), verify and
    store them; returns the stored path. Network failures and a wrong hash raise
    `AuthorsWeightsError` with one line saying what happened."""
    url = url or os.environ.get("ANPOLICY_AUTHORS_URL") or URL
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as e:
        raise AuthorsWeightsError(f"could not download {url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise AuthorsWeightsError(
            f"could not download {url} ({reason}); check the network, or install a local "
            f"copy with `{COMMAND} --from PATH`"
        ) from None
    if len(data) > MAX_BYTES:
        raise AuthorsWeightsError(f"{url}: more than {MAX_BYTES} bytes; nothing was kept")
    return _keep(data, url)


def install_from(path) -> Path:
    """Install a local copy after the same SHA-256 check; returns the stored path."""
    path = Path(path)
    if not path.is_file():
        raise AuthorsWeightsError(f"--from {path}: no such file")
    if path.stat().st_size > MAX_BYTES:
        raise AuthorsWeightsError(f"--from {path}: larger than {MAX_BYTES} bytes; nothing kept")
    return _keep(path.read_bytes(), str(path))


def ensure(try_fetch: bool = True, timeout: float = 30.0) -> tuple[Path | None, str]:
    """``(path, message)``: the resolved file, fetching it first when missing and
    ``try_fetch``; ``(None, reason)`` when it is still missing (never raises)."""
    try:
        return resolve(), "found"
    except AuthorsWeightsMissing as missing:
        if not try_fetch:
            return None, str(missing)
        try:
            return fetch(timeout=timeout), "fetched"
        except AuthorsWeightsError as e:
            return None, f"{missing}; fetching failed: {e}"
