"""Bad input: every user mistake ends in one clear line, nothing degenerates silently.

Tables of cases (command line, agent files, the policy API in both engines), the
``--help`` contract, and Hypothesis fuzzing of command lines and corrupt agent files
(fixed seed, bounded examples): each case ends in a result or a one-line error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anpolicy.__main__ import build_parser, main
from anpolicy.sim import fused
from anpolicy.sim.interventions import Intervention
from anpolicy.sim.plan import EpisodePlan
from anpolicy.sim.policy import AttentionNeuronPolicy, FNNPolicy
from anpolicy.sim.rollout import rollout
from anpolicy.sim.schedules import ObservationChannels, PermutationSchedule
from anpolicy.store import weights
from anpolicy.store.weights import CheckpointError, load_agent, save_agent
from anpolicy.study import chapter_params
from anpolicy.training.config_help import CONFIGS, read_config_fields

ROOT = Path(__file__).parents[1]
AN = ROOT / "data/agents/attention_neuron.npz"
FNN = ROOT / "data/agents/fnn.npz"


def run_cli(argv) -> tuple[int, str, str]:
    """Run ``python -m anpolicy ARGV`` in-process: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 2
    return rc, out.getvalue(), err.getvalue()


def assert_one_line_error(rc: int, err: str, *needles: str) -> str:
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip()]
    assert rc == 2, f"status {rc}, stderr {err!r}"
    assert "Traceback" not in err
    assert len(lines) == 1, f"expected one line, got {lines}"
    assert "error" in lines[0]
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


# ------------------------------------------------------------------ the command line
EV = ["evaluate", AN, "--episodes", "2", "--max-steps", "5"]
CLI_CASES = {
    # kind "usage": argparse-level mistakes
    "no command": ([], "command"),
    "unknown command": (["bogus"], "invalid choice"),
    "unknown option": ([*EV, "--frobnicate", "1"], "--frobnicate"),
    "missing weights": (["evaluate"], "weights"),
    "episodes not a number": ([*EV, "--episodes", "x"], "--episodes"),
    "engine unknown": ([*EV, "--engine", "gpu"], "--engine"),
    "bool option not a bool": (["apg", "--upright-only", "maybe"], "--upright-only"),
    "float option not a number": (["train", "--minutes", "soon"], "--minutes"),
    # kind "value": values refused up front
    "episodes 0": ([*EV, "--episodes", "0"], "--episodes"),
    "episodes negative": ([*EV, "--episodes", "-5"], "--episodes"),
    "episodes beyond memory": ([*EV, "--episodes", str(10**12)], "--episodes"),
    "seed negative": ([*EV, "--seed", "-1"], "--seed"),
    "max-steps 0": ([*EV, "--max-steps", "0"], "--max-steps"),
    "max-steps negative": ([*EV, "--max-steps", "-3"], "--max-steps"),
    "max-steps beyond the task": ([*EV, "--max-steps", "1001"], "--max-steps"),
    "noise negative": ([*EV, "--noise", "-1"], "--noise"),
    "copies 0": ([*EV, "--copies", "0"], "--copies"),
    "threads negative": ([*EV, "--threads", "-1"], "--threads"),
    "threads absurd": ([*EV, "--threads", "100000"], "--threads"),
    "bench population 0": (["bench", "--population", "0"], "--population"),
    "bench episodes 0": (["bench", "--episodes", "0"], "--episodes"),
    "bench loop-seconds 0": (["bench", "--loop-seconds", "0"], "--loop-seconds"),
    "bench loop-seconds nan": (["bench", "--loop-seconds", "nan"], "--loop-seconds"),
    "bench threads negative": (["bench", "--threads", "-1"], "--threads"),
    "bench seed negative": (["bench", "--seed", "-2"], "--seed"),
    "train minutes nan": (["train", "--minutes", "nan"], "--minutes"),
    "train popsize 0": (["train", "--popsize", "0"], "--popsize"),
    "train rollouts negative": (["train", "--rollouts", "-4"], "--rollouts"),
    "train threads negative": (["train", "--threads", "-1"], "--threads"),
    "train threads 0": (["train", "--threads", "0"], "--threads"),  # evaluate's default only
    "train upright-starts above 1": (["train", "--upright-starts", "2"], "--upright-starts"),
    "train sigma0 inf": (["train", "--sigma0", "inf"], "--sigma0"),
    "distill beta0 above 1": (["distill", "--beta0", "1.5"], "--beta0"),
    "apg window 0": (["apg", "--window", "0"], "--window"),
    # kind "schedule"
    "schedule unknown": ([*EV, "--schedule", "sometimes"], "--schedule"),
    "schedule every:0": ([*EV, "--schedule", "every:0"], "--schedule"),
    "schedule every:x": ([*EV, "--schedule", "every:x"], "--schedule"),
    "schedule every beyond max-steps": ([*EV, "--schedule", "every:5"], "never happens"),
    "schedule at:0": ([*EV, "--schedule", "at:0"], "--schedule"),
    "schedule at: decreasing": ([*EV, "--schedule", "at:3,2"], "--schedule"),
    "schedule at beyond max-steps": (["evaluate", AN, "--schedule", "at:5000"], "5000"),
    "schedule at: empty": ([*EV, "--schedule", "at:"], "--schedule"),
    "schedule fixed: not a permutation": ([*EV, "--schedule", "fixed:0,0,1,2,3"], "--schedule"),
    "schedule fixed: too short": ([*EV, "--schedule", "fixed:0,1,2"], "--schedule"),
    "schedule fixed: wrong for copies": (
        [*EV, "--copies", "2", "--schedule", "fixed:0,1,2,3,4"],
        "--copies 2",
    ),
    # kind "intervention" / "engine"
    "intervention unknown": ([*EV, "--intervention", "zap"], "--intervention"),
    "intervention without reshuffles": ([*EV, "--intervention", "permute_relative"], "reshuffle"),
    "intervention on an FNN": (
        ["evaluate", FNN, "--episodes", "2", "--schedule", "none", "--intervention", "zero_hc"],
        "--intervention",
    ),
    "noise channels on an FNN": (["evaluate", FNN, "--episodes", "2", "--noise", "2"], "FNN"),
    "fused engine with an intervention": (
        [*EV, "--engine", "fused", "--intervention", "zero_hc"],
        "--engine",
    ),
    "fused engine with an FNN": (["evaluate", FNN, "--episodes", "2", "--engine", "fused"], "FNN"),
    # kind "file"
    "weights missing": (["evaluate", "no/such/agent.npz"], "no/such/agent.npz"),
    "weights a directory": (["evaluate", ROOT / "data"], "data"),
    "weights not an npz": (["evaluate", ROOT / "README.md"], "README.md"),
    "resume without a run": (["train", "--resume", "--run-dir", "/nonexistent/run"], "config"),
    "ship a missing run": (["ship", "/nonexistent/run", "--name", "x"], "/nonexistent/run"),
    "distill a missing teacher": (["distill", "--teacher", "/nonexistent.npz"], "nonexistent"),
    "sampling-state of a missing run": (["sampling-state", "/nonexistent/run"], "/nonexistent"),
    "sampling-state of a finished run": (["sampling-state", ROOT / "data/runs/ipop_seed0"], "no"),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_command_line_mistakes_are_one_line_with_status_2(case):
    argv, needle = CLI_CASES[case]
    rc, out, err = run_cli(argv)
    assert_one_line_error(rc, err, str(needle))
    assert out == ""


def test_a_bad_against_file_fails_before_any_episode_runs(monkeypatch):
    import anpolicy.cli.commands as commands

    def must_not_run(*a, **k):
        raise AssertionError("an episode ran before --against was checked")

    monkeypatch.setattr(commands, "_run_one", must_not_run)
    rc, out, err = run_cli([*EV, "--against", ROOT / "README.md"])
    assert_one_line_error(rc, err, "README.md")
    rc, out, err = run_cli([*EV, "--noise", "2", "--against", FNN])
    assert_one_line_error(rc, err, "FNN")


@pytest.mark.parametrize(
    "argv",
    [
        ["--optimizer", "foo"],
        ["--init-from", FNN],
        ["--init-stds-from", ROOT / "README.md"],
        ["--init-stds-from", ROOT / "data"],
    ],
    ids=[
        "unknown optimizer",
        "init-from of another policy",
        "init-stds-from a file that is not a sampling state",
        "init-stds-from a folder without one",
    ],
)
def test_a_train_that_cannot_start_leaves_no_run_dir(argv, tmp_path):
    run = tmp_path / "run"
    rc, out, err = run_cli(["train", "--generations", "1", "--run-dir", run, *argv])
    assert rc == 2 and "error" in err and not run.exists()


def test_debug_shows_the_traceback():
    with pytest.raises(CheckpointError, match="not found"):
        main(["--debug", "evaluate", "no/such.npz"])
    with pytest.raises(CheckpointError, match="not found"):
        main(["evaluate", "no/such.npz", "--debug"])


def test_valid_evaluation_still_runs():
    rc, out, err = run_cli([*EV, "--schedule", "every:2", "--json"])
    assert rc == 0, err
    s = json.loads(out)
    assert s["n"] == 2 and np.isfinite(s["mean"]) and "every 2 steps" in s["schedule"]


# -------------------------------------------------------------------- --help
def _all_subparsers():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, type(parser._subparsers._actions[-1])))
    return parser, sub.choices


def test_every_option_of_every_subcommand_has_help_with_its_default():
    parser, subs = _all_subparsers()
    missing = []
    for name, sp in [("", parser), *subs.items()]:
        for action in sp._actions:
            if action.help == "==SUPPRESS==" or isinstance(action, type(sp._actions[0])):
                continue  # -h
            text = action.help or ""
            positional = not action.option_strings
            if not text or not (positional or "default" in text or "required" in text):
                missing.append(f"{name} {action.option_strings or action.dest}: {text!r}")
    assert not missing, missing


@pytest.mark.parametrize("command", sorted(CONFIGS))
def test_config_options_are_read_from_the_dataclass_source_exactly(command):
    module, cls_name = CONFIGS[command]
    cls = getattr(__import__(module, fromlist=[cls_name]), cls_name)
    read = read_config_fields(module, cls_name)
    real = dataclasses.fields(cls)
    assert [f.name for f in read] == [f.name for f in real]
    for r, f in zip(read, real, strict=True):
        assert r.default == f.default and r.type.__name__ == f.type, f.name
        assert r.help, f"{cls_name}.{f.name} has no help (comment it in the source)"
        assert r.unit, f"{cls_name}.{f.name} has no unit (add it to config_help.UNITS)"


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["evaluate", "--help"]])
def test_help_does_not_import_torch_or_numba(argv):
    code = (
        "import sys\nfrom anpolicy.__main__ import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print(sorted({'torch', 'numba'} & set(sys.modules)), file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stderr.strip() == "[]", r.stderr
    assert "usage" in r.stdout


# ------------------------------------------------------------------- agent files
def _savez(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _good(**override):
    pol = AttentionNeuronPolicy()
    arrays = {
        "params": np.zeros(pol.n_params, dtype=np.float32),
        "spec": np.array(json.dumps(pol.spec())),
        "meta": np.array(json.dumps({"seed": 0})),
    }
    arrays.update(override)
    return {k: v for k, v in arrays.items() if v is not None}


def _truncated(path):
    data = AN.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _bit_flipped(path):
    data = bytearray(AN.read_bytes())
    i = data.find(b"params.npy") + 200  # inside the stored params data (CRC-checked)
    data[i] ^= 0x10
    path.write_bytes(bytes(data))


def _zip_with_text_member(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("params.npy", b"this is not an npy array")


AGENT_CASES = {
    # kind "not an npz"
    "empty file": (lambda p: p.write_bytes(b""), "not a readable"),
    "text file": (lambda p: p.write_text("hello"), "not a readable"),
    "single .npy": (lambda p: np.save(open(p, "wb"), np.zeros(913)), "single .npy"),
    "truncated npz": (_truncated, "not a readable"),
    "bit-flipped npz": (_bit_flipped, "not a readable"),
    "member not npy": (_zip_with_text_member, "not a readable"),
    "pickled objects": (
        lambda p: _savez(p, params=np.array([{"a": 1}], dtype=object)),
        "not a readable",
    ),
    # kind "keys"
    "no params": (lambda p: _savez(p, weights=np.zeros(913)), "no 'params'"),
    "extra array": (lambda p: _savez(p, **_good(extra=np.zeros(3))), "unexpected arrays"),
    # kind "params"
    "params int": (lambda p: _savez(p, **_good(params=np.zeros(913, np.int64))), "dtype int64"),
    "params complex": (
        lambda p: _savez(p, **_good(params=np.zeros(913, np.complex64))),
        "dtype complex64",
    ),
    "params strings": (lambda p: _savez(p, **_good(params=np.array(["a"] * 913))), "dtype <U1"),
    "params 2-D": (
        lambda p: _savez(p, **_good(params=np.zeros((1, 913), np.float32))),
        "(1, 913)",
    ),
    "params too short": (lambda p: _savez(p, **_good(params=np.zeros(900, np.float32))), "(900,)"),
    "params empty": (lambda p: _savez(p, **_good(params=np.zeros(0, np.float32))), "(0,)"),
    "params NaN": (
        lambda p: _savez(p, **_good(params=np.full(913, np.nan, np.float32))),
        "913 NaN or inf",
    ),
    "params inf": (
        lambda p: _savez(p, **_good(params=np.r_[np.inf, np.zeros(912)].astype(np.float32))),
        "1 NaN or inf",
    ),
    "params overflow float32": (
        lambda p: _savez(p, **_good(params=np.r_[1e300, np.zeros(912)])),
        "after conversion to float32",
    ),
    # kind "spec"
    "spec not JSON": (lambda p: _savez(p, **_good(spec=np.array("{kind: an"))), "'spec' is not"),
    "spec a list": (lambda p: _savez(p, **_good(spec=np.array("[1, 2]"))), "JSON object"),
    "spec a number array": (lambda p: _savez(p, **_good(spec=np.zeros(2))), "'spec' must be"),
    "spec unknown kind": (
        lambda p: _savez(p, **_good(spec=np.array('{"kind": "transformer"}'))),
        "unknown policy kind",
    ),
    "spec unknown field": (
        lambda p: _savez(p, **_good(spec=np.array('{"kind": "fnn", "depth": 3}'))),
        "unknown fnn spec fields",
    ),
    "spec size not an int": (
        lambda p: _savez(
            p, **_good(spec=np.array('{"kind": "attention_neuron", "hidden_dim": "16"}'))
        ),
        "'hidden_dim' must be an integer",
    ),
    "spec size absurd": (
        lambda p: _savez(
            p, **_good(spec=np.array('{"kind": "attention_neuron", "hidden_dim": 1000000000}'))
        ),
        "'hidden_dim' must be in 1..4096",
    ),
    "spec does not match the parameter count": (
        lambda p: _savez(p, **_good(spec=np.array(json.dumps(FNNPolicy().spec())))),
        "needs (385,)",
    ),
    # kind "meta"
    "meta not JSON": (lambda p: _savez(p, **_good(meta=np.array("{seed: 0"))), "'meta' is not"),
    "meta a string": (lambda p: _savez(p, **_good(meta=np.array('"hello"'))), "JSON object"),
    "meta a number array": (lambda p: _savez(p, **_good(meta=np.arange(3))), "'meta' must be"),
}


@pytest.mark.parametrize("case", sorted(AGENT_CASES))
def test_agent_file_problems_name_the_file_and_the_problem(case, tmp_path):
    write, needle = AGENT_CASES[case]
    path = tmp_path / f"agent_{case.replace(' ', '_')}.npz"
    write(path)
    with pytest.raises(CheckpointError) as info:
        load_agent(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message and needle in message, message
    rc, _, err = run_cli(["evaluate", path, "--episodes", "2", "--max-steps", "3"])
    assert_one_line_error(rc, err, path.name)


def test_agent_path_problems(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_agent(tmp_path / "none.npz")
    with pytest.raises(CheckpointError, match="is not a file"):
        load_agent(tmp_path)


def test_oversized_members_are_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "MAX_MEMBER_BYTES", 100)
    with pytest.raises(CheckpointError, match="claims"):
        load_agent(AN)


def test_float64_params_and_the_authors_layout_load(tmp_path):
    pol = FNNPolicy()
    p64 = np.random.default_rng(0).normal(size=pol.n_params)
    _savez(tmp_path / "f64.npz", params=p64, spec=np.array(json.dumps(pol.spec())))
    _, params, meta = load_agent(tmp_path / "f64.npz")
    assert params.dtype == np.float32 and np.array_equal(params, p64.astype(np.float32))
    _savez(tmp_path / "authors.npz", params=np.zeros(913, np.float32))
    assert load_agent(tmp_path / "authors.npz")[2] == {"source": "authors"}


# -------------------------------------------------------- the policy API, both engines
def _an_inputs(channels=5, p=1, r=3):
    pol = AttentionNeuronPolicy()
    params = np.random.default_rng(1).normal(0, 0.3, (p, pol.n_params)).astype(np.float32)
    w = pol.prepare(params)
    obs = torch.from_numpy(np.random.default_rng(2).normal(size=(p, r, channels)).astype("f4"))
    return pol, w, obs, pol.initial_state(p, r, channels)


def test_policy_step_refuses_channels_that_do_not_match_the_state():
    pol, w, obs, _ = _an_inputs()
    with pytest.raises(ValueError, match=r"do not match the state: 'h' has shape \(1, 3, 7, 8\)"):
        pol.step(w, obs, pol.initial_state(1, 3, 7))
    with pytest.raises(ValueError, match="do not match the state"):
        pol.step(w, obs, pol.initial_state(1, 4, 5))  # R differs
    with pytest.raises(ValueError, match="P=1"):
        pol.step(w, obs.expand(2, 3, 5), pol.initial_state(2, 3, 5))


def test_policy_step_converts_float64_and_numpy():
    pol, w, obs, state = _an_inputs()
    a32, _, _ = pol.step(w, obs, state)
    a64, _, _ = pol.step(w, obs.double(), state)
    anp, _, _ = pol.step(w, obs.numpy().astype(np.float64), state)
    assert a64.dtype == torch.float32 and torch.equal(a32, a64) and torch.equal(a32, anp)


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda o: o.to(torch.int64), "floating point"),
        (lambda o: o.to(torch.bool), "floating point"),
        (lambda o: torch.where(o > 0, torch.nan, o), "non-finite"),
        (lambda o: o.fill_(torch.inf), "non-finite"),
        (lambda o: o[0], r"must be \(P=1, R, C\)"),
    ],
)
def test_policy_step_refuses_bad_observations_by_name(bad, message):
    pol, w, obs, state = _an_inputs()
    with pytest.raises(ValueError, match=message):
        pol.step(w, bad(obs.clone()), state)
    fnn = FNNPolicy()
    wf = fnn.prepare(np.zeros((1, fnn.n_params), np.float32))
    with pytest.raises(ValueError, match=message):
        fnn.step(wf, bad(obs.clone()), fnn.initial_state(1, 3, 5))


def test_fnn_step_refuses_extra_channels_and_accepts_float64():
    fnn = FNNPolicy()
    wf = fnn.prepare(np.zeros((1, fnn.n_params), np.float32))
    with pytest.raises(ValueError, match="takes 5 observation channels, got 7"):
        fnn.step(wf, torch.zeros(1, 2, 7), {"prev_action": torch.zeros(1, 2)})
    a, _, _ = fnn.step(wf, torch.zeros(1, 2, 5, dtype=torch.float64), fnn.initial_state(1, 2, 5))
    assert a.dtype == torch.float32


@pytest.mark.parametrize("engine", ["torch", "fused"])
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_steps": 0}, "max_steps must be an integer >= 1"),
        ({"max_steps": -5}, "max_steps must be an integer >= 1"),
        ({"max_steps": 2.5}, "max_steps must be an integer >= 1"),
        ({"n_episodes": 0}, "n_episodes must be an integer >= 1"),
        ({"n_episodes": True}, "n_episodes must be an integer >= 1"),
        ({"n_episodes": 10**13}, "GiB"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"engine": "gpu"}, "unknown engine"),
        ({"plan": EpisodePlan.draw(0, 3, max_steps=5)}, "the plan has 3 episodes, the rollout 2"),
        ({"plan": EpisodePlan.draw(0, 2, PermutationSchedule.every(7))}, "not within 5 steps"),
        ({"plan": EpisodePlan.draw(0, 2, n_permuted=10)}, "the plan permutes 10 channels"),
        ({"plan": EpisodePlan.draw(0, 2), "schedule": PermutationSchedule.at_reset()}, "either"),
    ],
)
def test_rollout_refuses_bad_arguments_in_both_engines(engine, kwargs, message):
    pol = AttentionNeuronPolicy()
    args = {"n_episodes": 2, "max_steps": 5, "engine": engine, **kwargs}
    with pytest.raises(ValueError, match=message):
        rollout(pol, np.zeros(pol.n_params, np.float32), **args)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"starts": np.full((2, 4), np.inf)}, "starts contain NaN"),
        ({"starts": np.zeros((2, 3))}, r"starts must be \(R >= 1, 4\)"),
        ({"perms": np.full((2, 1, 5), 7)}, "indices in 0..4"),
        ({"perms": np.zeros((2, 2, 5), np.int64)}, r"perms must be integer \(2, 1, 5\)"),
        ({"change_steps": [10]}, "change_steps must increase strictly"),
        ({"max_steps": 0}, "max_steps must be an integer >= 1"),
    ],
)
def test_fused_run_checks_what_its_compiled_loop_trusts(change, message):
    pol = AttentionNeuronPolicy()
    args = {
        "starts": np.zeros((2, 4)),
        "perms": np.tile(np.arange(5), (2, 1, 1)),
        "change_steps": [],
        "max_steps": 5,
        **change,
    }
    with pytest.raises(ValueError, match=message):
        fused.run(
            pol,
            np.zeros((1, pol.n_params), np.float32),
            args["starts"],
            args["perms"],
            args["change_steps"],
            0,
            ObservationChannels(),
            args["max_steps"],
        )


def test_fused_threads_refuse_negative():
    with pytest.raises(ValueError, match="threads must be an integer >= 0"):
        fused.set_threads(-1)


class _WritesNaN(Intervention):
    def after_policy(self, ctx):
        ctx.action = torch.full_like(ctx.action, torch.nan)


def test_a_nan_written_by_a_hook_is_an_error_not_a_nan_mean():
    pol = AttentionNeuronPolicy()
    with pytest.raises(ValueError, match="non-finite returns"):
        rollout(
            pol, np.zeros(pol.n_params, np.float32), 2, max_steps=5, interventions=[_WritesNaN()]
        )


# -------------------------------------------------------------------- fuzzing
class _Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: int):
    """Fail an example that runs longer than ``seconds`` (a hang) instead of waiting."""

    def on_alarm(signum, frame):
        raise _Hang(f"no result after {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def corrupt_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz_files")
    files = []
    for case in ("truncated npz", "bit-flipped npz", "params NaN", "spec size absurd", "no params"):
        path = d / f"{case.replace(' ', '_')}.npz"
        AGENT_CASES[case][0](path)
        files.append(str(path))
    return files


GOOD = {  # small valid values (a valid evaluation stays cheap) and invalid ones
    "--episodes": (["1", "3"], ["0", "-1", "x", "", "1e3", str(10**12)]),
    "--seed": (["0", "7"], ["-1", "one", "0.5"]),
    "--max-steps": (["1", "8"], ["0", "-2", "1001", "nan"]),
    "--schedule": (
        ["none", "reset", "every:3", "at:2,5", "fixed:4,3,2,1,0"],
        ["every:0", "at:", "at:9999", "fixed:1,1", "x:y", "every:-1", "fixed:0,1,2,3,4,5"],
    ),
    "--noise": (["0", "2"], ["-1", "two"]),
    "--copies": (["1", "2"], ["0", "-3"]),
    "--intervention": (["none", "zero_c", "zero_prev_action"], ["zap", "", "permute"]),
    "--engine": (["torch", "auto"], ["gpu", "FUSED"]),
    "--threads": (["0", "1"], ["-1", "999999", "many"]),
}


@st.composite
def command_lines(draw, files):
    command = draw(st.sampled_from(["evaluate", "evaluate", "evaluate", "bench", "train", "ship"]))
    if command in ("train", "ship"):  # these must fail before running: one bad value each
        option, value = draw(
            st.sampled_from(
                [
                    ("--popsize", "0"),
                    ("--minutes", "nan"),
                    ("--threads", "-3"),
                    ("--rollouts", "x"),
                    ("--upright-starts", "7"),
                    ("--bogus", "1"),
                ]
            )
        )
        if command == "ship":
            return ["ship", "/nonexistent/run", "--name", "x", *draw(st.sampled_from([[], ["-z"]]))]
        return ["train", option, value]
    if command == "bench":
        return [
            "bench",
            "--population",
            draw(st.sampled_from(["0", "-1", "x", str(10**9)])),
            "--episodes",
            draw(st.sampled_from(["1", "0", "2"])),
        ]
    weights_file = draw(st.sampled_from([str(AN), str(FNN), "missing.npz", str(ROOT), *files]))
    argv = ["evaluate", weights_file]
    for option, (good, bad) in GOOD.items():
        choice = draw(st.sampled_from(["absent", "good", "good", "bad"]))
        if choice == "good":
            argv += [option, draw(st.sampled_from(good))]
        elif choice == "bad":
            argv += [option, draw(st.sampled_from(bad))]
    if "--episodes" not in argv or "--max-steps" not in argv:  # keep valid runs short
        argv += ["--episodes", "2", "--max-steps", "6"]
    if draw(st.booleans()):
        argv.append("--json")
    if draw(st.integers(0, 9)) == 0:
        argv.append(draw(st.sampled_from(["--unknown", "-x", "extra-positional"])))
    return argv


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_fuzz_command_lines_end_in_a_result_or_one_line(data, corrupt_files):
    argv = data.draw(command_lines(corrupt_files))
    with time_limit(120):
        rc, out, err = run_cli(argv)
    assert "Traceback" not in err, (argv, err)
    assert rc in (0, 2), (argv, rc, err)
    if rc == 2:
        assert_one_line_error(rc, err)
        return
    assert argv[0] == "evaluate", argv  # only evaluation may succeed here
    if "--json" in argv:
        s = json.loads(out)
        n = int(argv[len(argv) - 1 - argv[::-1].index("--episodes") + 1])
        assert s["n"] == n and np.isfinite(s["mean"]), (argv, s)
        assert s["mean"] != 0.0 or s["sd"] > 0.0, f"silent zero: {argv}"
    else:
        assert "mean return" in out, (argv, out)


def _mutations():
    base = AN.read_bytes()
    return st.one_of(
        st.builds(lambda k: ("truncate", k), st.integers(0, len(base) - 1)),
        st.builds(lambda k, b: ("flip", k, b), st.integers(0, len(base) - 1), st.integers(0, 7)),
        st.builds(lambda name: ("rename", name), st.sampled_from(["weights", "param", "spec2"])),
        st.builds(
            lambda dt: ("dtype", dt),
            st.sampled_from(["int32", "float16", "float64", "complex64", "bool", "<U3", "uint8"]),
        ),
        st.builds(lambda key: ("drop", key), st.sampled_from(["params", "spec", "meta"])),
        st.builds(lambda text: ("spec", text), st.text(max_size=40)),
        st.builds(lambda text: ("meta", text), st.text(max_size=40)),
        st.builds(lambda n: ("size", n), st.integers(0, 2000)),
    )


def _write_mutant(path: Path, mutation) -> None:
    kind = mutation[0]
    if kind in ("truncate", "flip"):
        data = bytearray(AN.read_bytes())
        if kind == "truncate":
            data = data[: mutation[1]]
        else:
            data[mutation[1]] ^= 1 << mutation[2]
        path.write_bytes(bytes(data))
        return
    with np.load(AN) as f:
        arrays = {k: f[k] for k in f.files}
    if kind == "rename":
        arrays[mutation[1]] = arrays.pop("params")
    elif kind == "dtype":
        arrays["params"] = arrays["params"].astype(mutation[1])
    elif kind == "drop":
        arrays.pop(mutation[1])
    elif kind in ("spec", "meta"):
        arrays[kind] = np.array(mutation[1])
    elif kind == "size":
        arrays["params"] = np.resize(arrays["params"], mutation[1])
    _savez(path, **arrays)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(mutation=_mutations())
def test_fuzz_corrupt_agent_files_load_correctly_or_fail_in_one_line(mutation, tmp_path):
    path = tmp_path / "mutant.npz"
    _write_mutant(path, mutation)
    with time_limit(60):
        try:
            policy, params, meta = load_agent(path)
        except CheckpointError as e:
            message = str(e)
            assert str(path) in message and "\n" not in message, (mutation, message)
            return
    # loaded: then it is a usable agent, never a silent wreck
    assert params.dtype == np.float32 and params.shape == (policy.n_params,)
    assert np.isfinite(params).all() and isinstance(meta, dict)


def test_save_agent_round_trip_survives_the_checks(tmp_path):
    pol = AttentionNeuronPolicy()
    p = np.random.default_rng(0).normal(size=pol.n_params).astype(np.float32)
    save_agent(tmp_path / "a.npz", pol, p, {"note": "ok"})
    _, loaded, meta = load_agent(tmp_path / "a.npz")
    assert np.array_equal(loaded, p) and meta == {"note": "ok"}


# ------------------------------------------------------------- chapter parameters
BOOK = ROOT / "book"
CHAPTER_CASES = {
    "unknown name (a typo)": ({"n_episode": 5000}, "no parameter 'n_episode'; its parameters:"),
    "count 0": ({"n_episodes": 0}, "must be >= 1"),
    "count as text": ({"n_episodes": "x"}, "expects int"),
    "count as float": ({"n_episodes": 2.5}, "expects int"),
    "seed negative": ({"seed": -1}, "must be >= 0"),
    "quick as int": ({"quick": 1}, "expects bool"),
    "agent as int": ({"agent": 12}, "pass text with -r"),
}


@pytest.mark.parametrize("case", sorted(CHAPTER_CASES))
def test_chapter_parameters_are_checked_before_running(case):
    sys.path.insert(0, str(ROOT / "scripts"))
    import run_chapter

    params, needle = CHAPTER_CASES[case]
    notebook = BOOK / "permutations.ipynb"
    with pytest.raises(chapter_params.ChapterParameterError, match=re.escape(needle)):
        chapter_params.check(notebook, params)
    argv = [str(notebook), "/nonexistent/out.ipynb"]
    for name, value in params.items():
        argv += ["-p", name, str(value)]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = run_chapter.main(argv)
    assert_one_line_error(rc, err.getvalue(), "permutations.ipynb")


def test_every_chapter_takes_the_build_profile_and_lists_its_parameters():
    for notebook in sorted(BOOK.glob("*.ipynb")):
        known = chapter_params.defaults(notebook)
        assert chapter_params.check(notebook, {"quick": True}) == {"quick": True}
        with pytest.raises(chapter_params.ChapterParameterError) as info:
            chapter_params.check(notebook, {"quikc": True})
        assert all(name in str(info.value) for name in known), notebook.name


def test_validate_for_a_chapter_first_cell():
    chapter_params.validate(seed=0, n_episodes=10, quick=True, agent="fnn")
    with pytest.raises(chapter_params.ChapterParameterError, match="'n_episodes' is a count"):
        chapter_params.validate(n_episodes=0)
    with pytest.raises(chapter_params.ChapterParameterError, match="finite"):
        chapter_params.validate(noise_std=float("nan"))
