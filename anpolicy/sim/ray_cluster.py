"""Connecting to a Ray cluster, or starting an own one on this machine.

`connect` joins the cluster at an address (``host:port``, checked first by
`check_reachable`) or, for ``address="local"``, starts an own single-machine cluster
(``ray.init(address="local")``: a stale ``ray_current_cluster`` file cannot redirect it)
with usage statistics off (``RAY_USAGE_STATS_ENABLED=0`` unless set), retrying a start
that times out on a loaded machine. `ClusterUnavailable` says what could not be reached
and how to start it. Ray is optional: `_import_ray` names the extra to install.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import socket
import sys
import tempfile
from pathlib import Path

log = logging.getLogger("anpolicy.sim.distributed")  # one logger for the Ray evaluator

LOCAL = "local"  # start an own single-machine cluster


RAY_REQUIREMENT = "ray==2.60.0"  # the pinned optional extra: pip install -e '.[ray]'


# The own local cluster starts no idle workers ahead (actors get their own processes,
# with their own runtime_env). On a loaded machine its start can time out: the raylet
# waits a fixed 15 s for its Python agent's port file (ray-project/ray#65983), and the
# agent needs 1-2 CPU-seconds to get there (measured here, 2 cores at load 11-20 under
# nice 10: most starts failed). So it is tried again, after stopping what the failed
# start left behind.
LOCAL_SYSTEM_CONFIG = {"enable_worker_prestart": False}


LOCAL_START_ATTEMPTS = 3


class ClusterUnavailable(ConnectionError, ValueError):
    """No Ray cluster at the address given (or Ray is missing); the message is one line.
    Also a ValueError, so that the command line reports it as a usage error."""


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ClusterUnavailable(
            f"Ray is not installed: pip install -e '.[ray]' (pins {RAY_REQUIREMENT})"
        ) from None
    return ray


def parse_address(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``host:port`` or ``ray://host:port`` address; None for
    ``auto``; ValueError for anything else."""
    if address == "auto":
        return None
    rest = address[len("ray://") :] if address.startswith("ray://") else address
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"--ray: expected 'auto', HOST:PORT or ray://HOST:PORT (or nothing: a local "
            f"cluster), got {address!r}"
        )
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast (ClusterUnavailable, one line) when nothing listens at ``address``."""
    hostport = parse_address(address)
    if hostport is None:
        return
    try:
        with socket.create_connection(hostport, timeout=timeout_s):
            pass
    except OSError as e:
        why = e.strerror or type(e).__name__
        raise ClusterUnavailable(
            f"no Ray cluster reachable at {address} ({why}); start one there with "
            "`ray start --head`, or give --ray without an address for a local cluster"
        ) from None


@contextlib.contextmanager
def _environ(**values):
    """Set environment variables for the duration (the processes started inherit them)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _fast_import_path() -> str | None:
    """A folder to put first on the PYTHONPATH of the local cluster's processes, or None.

    Every Ray process imports jsonschema, which loads the optional `rfc3987_syntax`
    when it is installed (Jupyter's jsonschema extras bring it) and builds an Earley
    grammar at import: measured here, 3.7 of the 5.1 CPU-seconds that Ray's node agent
    needs to start; on a loaded machine the raylet gives up waiting for the agent
    (15 s) and the cluster fails to start. The folder holds a stand-in that raises
    ImportError, which jsonschema treats as "not installed" (it then skips the "iri"
    format check, which Ray does not use). Only the processes of the cluster started
    here see it.
    """
    if importlib.util.find_spec("rfc3987_syntax") is None:
        return None
    folder = Path(tempfile.gettempdir()) / "anpolicy-ray-imports"
    stub = folder / "rfc3987_syntax.py"
    if not stub.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".stub.{os.getpid()}"
        tmp.write_text(
            '"""Stand-in seen by anpolicy\'s local Ray cluster (anpolicy.sim.distributed)."""\n'
            'raise ImportError("skipped in Ray processes: its grammar costs seconds")\n'
        )
        os.replace(tmp, stub)
    return str(folder)


def _child_processes() -> set:
    """This process's descendants and the processes of the Ray sessions it started
    (psutil.Process objects; empty without psutil). A failed start's agents outlive
    their raylet as orphans: they are found by their session (named after the process
    that started it: ``session_<date>_<time>_<pid>``) in their command line."""
    try:
        import psutil
    except ImportError:
        return set()
    found = set(psutil.Process().children(recursive=True))
    ours = re.compile(rf"session_[0-9_-]+_{os.getpid()}\b")
    for p in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error, TypeError):
            if any(ours.search(arg) for arg in p.info["cmdline"] or ()):
                found.add(p)
    return found


def _stop_processes(processes) -> None:
    """Terminate these processes (started by this process), then kill the stragglers."""
    if not processes:
        return
    import psutil

    for p in processes:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(processes, timeout=5)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()


def connect(address: str | None = LOCAL, num_cpus: int | None = None) -> bool:
    """Connect this process to Ray. ``address``: ``"local"`` (or None/"") starts an own
    cluster on this machine (``num_cpus``: its CPUs, default all), on 127.0.0.1;
    ``"auto"`` joins the cluster this machine belongs to (``ray start``); ``host:port``
    joins that head node. Returns True when this call connected (the caller then calls
    ``ray.shutdown()``), False when Ray was already initialised. Raises
    ClusterUnavailable (one line) where there is no cluster."""
    if address not in (None, "", LOCAL):
        check_reachable(address)  # before importing Ray: an answer in milliseconds
    elif "ray" not in sys.modules:
        # A cluster of this machine alone listens on the loopback interface only. Ray
        # reads this flag when imported; where it was imported before, its cluster
        # listens on the machine's address (still one machine, token-authenticated).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray = _import_ray()
    if ray.is_initialized():
        return False
    if address in (None, "", LOCAL):
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        env = {}
        fast = _fast_import_path()
        if fast:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (fast, os.environ.get("PYTHONPATH")) if p
            )
        for attempt in range(1, LOCAL_START_ATTEMPTS + 1):
            before = _child_processes()
            try:
                with _environ(**env):
                    ray.init(
                        address="local",
                        num_cpus=num_cpus,
                        include_dashboard=False,
                        _system_config=LOCAL_SYSTEM_CONFIG,
                        logging_level=logging.WARNING,
                    )
                break
            except Exception as e:  # Ray raises a bare Exception when its node times out
                ray.shutdown()
                _stop_processes(_child_processes() - before)  # what the failed start left
                first = str(e).splitlines()[0] if str(e) else type(e).__name__
                if attempt == LOCAL_START_ATTEMPTS:
                    raise ClusterUnavailable(
                        f"could not start a local Ray cluster ({attempt} attempts): {first}"
                    ) from e
                log.warning("local Ray cluster did not start (%s); trying again", first)
        return True
    try:
        ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, TimeoutError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ClusterUnavailable(f"cannot join the Ray cluster at {address}: {first}") from None
    return True
