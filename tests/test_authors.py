"""The authors' agent: fetch (from a local HTTP server), hash check, resolver, CLI errors."""

from __future__ import annotations

import hashlib
import http.server
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from anpolicy.store import authors

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Store and shared folders under tmp_path (both empty)."""
    monkeypatch.setenv("ANPOLICY_AUTHORS_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("ANPOLICY_REFERENCE", str(tmp_path / "shared"))
    return tmp_path


@pytest.fixture(scope="module")
def weights_bytes() -> bytes:
    try:
        data = authors.resolve().read_bytes()
    except authors.AuthorsWeightsMissing as e:
        pytest.skip(f"needs a copy of the authors' weights: {e}")
    assert hashlib.sha256(data).hexdigest() == authors.SHA256
    return data


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www; yields its base URL."""
    www = tmp_path / "www"
    www.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(www), **kw)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when the socket is: nothing listens there


def _cli(*args, env_extra: dict) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, **env_extra, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "anpolicy", "fetch-reference", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )


def test_pinned_source():
    assert authors.COMMIT in authors.URL and authors.URL.startswith("https://raw.")
    assert authors.URL.endswith("AttentionNeuron/pretrained/cartpole_pi/model.npz")
    assert "Apache" in authors.CITATION and "2109.02869" in authors.CITATION


def test_fetch_end_to_end_from_local_server(isolated, server, weights_bytes):
    www, base = server
    (www / "model.npz").write_bytes(weights_bytes)
    with pytest.raises(authors.AuthorsWeightsMissing, match="fetch-reference"):
        authors.resolve()
    path = authors.fetch(f"{base}/model.npz")
    assert path == authors.store_path() and path.read_bytes() == weights_bytes
    assert authors.resolve() == path
    from anpolicy.store.weights import load_agent

    policy, params, _ = load_agent(authors.resolve())
    assert params.shape == (913,) and policy.kind == "attention_neuron"


def test_cli_fetch_through_env_url(isolated, server, weights_bytes):
    www, base = server
    (www / "model.npz").write_bytes(weights_bytes)
    r = _cli(env_extra={"ANPOLICY_AUTHORS_URL": f"{base}/model.npz"})
    assert r.returncode == 0, r.stderr
    assert "SHA-256 verified" in r.stdout and "Apache" in r.stdout
    assert authors.store_path().read_bytes() == weights_bytes


def test_wrong_hash_keeps_nothing(isolated, server, weights_bytes):
    www, base = server
    tampered = bytearray(weights_bytes)
    tampered[-10] ^= 0xFF
    (www / "model.npz").write_bytes(bytes(tampered))
    with pytest.raises(authors.AuthorsWeightsError, match="nothing was kept"):
        authors.fetch(f"{base}/model.npz")
    assert not authors.store_path().parent.exists() or not any(
        authors.store_path().parent.iterdir()
    )
    # the same through --from: a wrong local copy is refused, nothing is stored
    bad = isolated / "bad.npz"
    bad.write_bytes(bytes(tampered))
    r = _cli("--from", str(bad), env_extra={})
    assert r.returncode == 2 and "does not match" in r.stderr and "Traceback" not in r.stderr
    assert not authors.store_path().exists()


def test_from_local_copy(isolated, weights_bytes):
    src = isolated / "copy.npz"
    src.write_bytes(weights_bytes)
    r = _cli("--from", str(src), env_extra={})
    assert r.returncode == 0, r.stderr
    assert authors.resolve() == authors.store_path()


def test_no_network_one_clear_line(isolated):
    url = f"http://127.0.0.1:{_closed_port()}/model.npz"
    r = _cli(env_extra={"ANPOLICY_AUTHORS_URL": url})
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: could not download"), r.stderr
    assert "Traceback" not in r.stderr and "--from PATH" in lines[0]
    assert not authors.store_path().exists()


def test_resolver_order_and_hash_check(isolated, weights_bytes):
    shared = Path(isolated / "shared" / "model.npz")
    shared.parent.mkdir(parents=True)
    shared.write_bytes(weights_bytes)
    assert authors.resolve() == shared  # nothing stored: the shared copy
    stored = authors.install_from(shared)
    assert authors.resolve() == stored  # the stored copy comes first
    stored.write_bytes(b"corrupt")  # a corrupt stored copy is skipped, not used
    assert authors.resolve() == shared
    shared.write_bytes(b"corrupt too")
    with pytest.raises(authors.AuthorsWeightsMissing, match="SHA-256 mismatch"):
        authors.resolve()


def test_ensure_never_raises_without_network(isolated, monkeypatch):
    monkeypatch.setenv("ANPOLICY_AUTHORS_URL", f"http://127.0.0.1:{_closed_port()}/m.npz")
    path, why = authors.ensure(timeout=5)
    assert path is None and "fetch-reference" in why and "could not download" in why
