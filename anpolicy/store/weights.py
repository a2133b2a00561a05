"""Reading and writing trained agents.

Our format is an ``.npz`` with ``params`` (n_params,) float32, ``spec`` (JSON of the
policy's `spec()`), and ``meta`` (JSON: training config, seed, scores, ...). The original
authors' ``model.npz`` holds only ``params`` (913 values, their layout) and loads as the
default Attention Neuron. Anything else is an error that says what is wrong.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from anpolicy.sim.policy import AttentionNeuronPolicy, make_policy
from anpolicy.store.files import write_atomic


class CheckpointError(ValueError):
    """A weights file that cannot be used: missing, corrupt, or mismatched. The message
    is one line that names the file and what is wrong with it."""


# What an agent file may hold; ``params`` is required (the authors' file holds only it).
AGENT_KEYS = ("params", "spec", "meta")
# An agent is a few kilobytes: larger archive members are refused before reading
# (a corrupt size field or a zip bomb must not exhaust memory).
MAX_MEMBER_BYTES = 64 << 20


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or "no detail"
    return f"{type(e).__name__}: {text}"[:300]


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` archive, or CheckpointError saying why not."""
    with open(path, "rb") as fh:
        head = fh.read(6)
    if head == b"\x93NUMPY":
        raise CheckpointError(
            f"{path} is a single .npy array, not a readable .npz weights file "
            "(save agents with anpolicy.store.weights.save_agent or np.savez(path, params=...))"
        )
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a readable .npz weights file (not a zip archive)")
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if info.file_size > MAX_MEMBER_BYTES:
                    raise CheckpointError(
                        f"{path}: member {info.filename!r} claims {info.file_size} bytes "
                        f"(an agent file holds a few kB; limit {MAX_MEMBER_BYTES})"
                    )
        with np.load(path, allow_pickle=False) as f:
            files = {k: f[k] for k in f.files}
    except CheckpointError:
        raise
    except Exception as e:  # any corruption: truncated, bit-flipped, bad header, pickled
        raise CheckpointError(
            f"{path} is not a readable .npz weights file ({_one_line(e)})"
        ) from None
    for key, value in files.items():  # numpy hands back raw bytes for a non-.npy member
        if not isinstance(value, np.ndarray):
            raise CheckpointError(
                f"{path} is not a readable .npz weights file (member {key!r} is not an array)"
            )
    return files


def _json_field(path: Path, files: dict, key: str) -> dict:
    """Decode the 0-d string array ``files[key]`` as a JSON object."""
    arr = files[key]
    if arr.shape != () or arr.dtype.kind not in "US":
        raise CheckpointError(
            f"{path}: {key!r} must be a JSON string (0-d str array), "
            f"got dtype {arr.dtype} shape {arr.shape}"
        )
    text = arr.item()
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: {key!r} is not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise CheckpointError(
            f"{path}: {key!r} must be a JSON object, got {type(value).__name__} {text[:60]!r}"
        )
    return value


def load_agent(path) -> tuple[object, np.ndarray, dict]:
    """Load ``(policy, params (n_params,) float32, meta)`` from a weights file.

    Raises `CheckpointError` (one line naming the file and the problem) for: a missing
    path or a directory; a file that is not an ``.npz`` (a single ``.npy``, text, a
    truncated or bit-flipped archive, pickled objects); no ``params`` or arrays other than
    ``params``, ``spec``, ``meta``; ``params`` not a 1-D real floating array, non-finite
    (also after conversion to float32), or not the size the policy spec needs; ``spec``
    or ``meta`` not a JSON object; a spec naming an unknown policy or bad sizes.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"weights file not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"weights path {path} is not a file")
    files = _read_npz(path)
    if "params" not in files:
        raise CheckpointError(f"{path} has no 'params' array (keys: {sorted(files)})")
    extra = sorted(set(files) - set(AGENT_KEYS))
    if extra:
        raise CheckpointError(
            f"{path}: unexpected arrays {extra}; an agent file holds {list(AGENT_KEYS)}"
        )
    params = files["params"]
    if params.dtype.kind != "f":
        raise CheckpointError(
            f"{path}: params has dtype {params.dtype}; expected floating point (float32)"
        )
    if "spec" in files:
        spec = _json_field(path, files, "spec")
        try:
            policy = make_policy(spec)
        except ValueError as e:
            raise CheckpointError(f"{path}: bad policy spec ({e})") from None
    else:
        policy = AttentionNeuronPolicy()  # the original authors' file
    meta = _json_field(path, files, "meta") if "meta" in files else {"source": "authors"}
    if params.ndim != 1 or params.shape[0] != policy.n_params:
        raise CheckpointError(
            f"{path}: params has shape {params.shape}, but a {policy.kind} policy "
            f"{policy.spec()} needs ({policy.n_params},)"
        )
    with np.errstate(over="ignore"):
        params32 = params.astype(np.float32)
    if not np.isfinite(params32).all():
        bad = int((~np.isfinite(params32)).sum())
        raise CheckpointError(
            f"{path}: params contain {bad} NaN or inf values"
            + (" (after conversion to float32)" if np.isfinite(params).all() else "")
        )
    return policy, params32, meta


def save_agent(path, policy, params, meta: dict | None = None) -> Path:
    """Write an agent atomically (temporary file + rename); returns the path."""
    params = np.asarray(params, dtype=np.float32).reshape(-1)
    if params.shape[0] != policy.n_params or not np.isfinite(params).all():
        raise ValueError(f"params must be {policy.n_params} finite values, got {params.shape}")
    buf = io.BytesIO()
    np.savez(
        buf,
        params=params,
        spec=np.array(json.dumps(policy.spec())),
        meta=np.array(json.dumps(meta or {}, default=str)),
    )
    return write_atomic(path, buf.getvalue())
