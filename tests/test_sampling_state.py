"""A finished run's sampling state (sampling_state.npz) and runs started from it
(``--init-stds-from``): the new run samples with the old run's per-parameter stdevs."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from anpolicy.training.es import CMAES
from anpolicy.training.generation import make_optimizer
from anpolicy.training.run_files import SAMPLING_STATE, load_sampling_stds
from anpolicy.training.train import train
from tests.test_train_cli import tiny_config

FNN_PARAMS = 385  # 5-16-16-1


@pytest.mark.parametrize("diagonal", [True, False], ids=["separable", "full"])
def test_coordinate_scales_set_each_coordinates_sampling_stdev(diagonal):
    scales = np.array([1.0, 2.0, 4.0, 8.0, 0.5])
    opt = CMAES(5, 4000, 0.1, seed=3, diagonal=diagonal, coordinate_scales=scales)
    # (full CMA-ES: pycma's initial C is not exactly the identity; ~4e-5 relative)
    assert np.allclose(opt.stds, 0.1 * scales, rtol=1e-4, atol=0)
    measured = opt.ask().std(axis=0)
    assert np.allclose(measured, 0.1 * scales, rtol=0.06)
    plain = CMAES(5, 8, 0.1, seed=3, diagonal=diagonal)
    assert np.allclose(plain.stds, 0.1, rtol=1e-4, atol=0)


@pytest.fixture(scope="module")
def finished_sepcma_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "sep"
    cfg = tiny_config(run, optimizer="sepcma", generations=6, popsize=8, sigma0=0.3)
    train(cfg, progress=False)
    return run


def test_a_finished_run_writes_its_final_sampling_state(finished_sepcma_run):
    run = finished_sepcma_run
    with open(run / "checkpoint.pkl", "rb") as f:
        opt = pickle.load(f)["optimizer"]
    with np.load(run / SAMPLING_STATE) as z:
        assert int(z["generation"]) == 6
        assert np.array_equal(z["stds"], opt.stds)
        assert np.array_equal(z["center"], opt.center)
        assert float(z["step_size"]) == opt.step_size
        # six generations of adaptation: the coordinates no longer share one stdev
        assert z["stds"].std() > 0 and z["stds"].shape == (FNN_PARAMS,)


@pytest.mark.parametrize("optimizer", ["sepcma", "cma", "pgpe"])
def test_a_new_run_starts_with_the_finished_runs_stdevs(finished_sepcma_run, tmp_path, optimizer):
    stds = np.load(finished_sepcma_run / SAMPLING_STATE)["stds"]
    for source in (finished_sepcma_run, finished_sepcma_run / SAMPLING_STATE):
        cfg = tiny_config(
            tmp_path / "new", optimizer=optimizer, sigma0=0.05, init_stds_from=str(source)
        )
        opt = make_optimizer(cfg, FNN_PARAMS, seed=1)
        assert np.allclose(opt.stds, stds, rtol=1e-12 if optimizer != "cma" else 1e-4, atol=0)
    without = make_optimizer(tiny_config(tmp_path / "plain", optimizer=optimizer), FNN_PARAMS, 1)
    assert not np.allclose(without.stds, stds)


def test_a_run_started_from_the_stdevs_trains_and_records_its_source(finished_sepcma_run, tmp_path):
    cfg = tiny_config(
        tmp_path / "next", optimizer="sepcma", sigma0=0.05, init_stds_from=str(finished_sepcma_run)
    )
    train(cfg, progress=False)
    config = (tmp_path / "next/config.json").read_text()
    assert str(finished_sepcma_run) in config
    assert (tmp_path / "next" / SAMPLING_STATE).is_file()


def _state(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "make, error, needle",
    [
        (lambda d: d, FileNotFoundError, "no sampling_state.npz"),
        (lambda d: (d / "x.txt").write_text("no") and d / "x.txt", ValueError, "not a sampling"),
        (lambda d: _state(d / "k.npz", center=np.ones(3)), ValueError, "not a sampling"),
        (lambda d: _state(d / "n.npz", stds=np.ones(913)), ValueError, "913"),
        (lambda d: _state(d / "z.npz", stds=np.zeros(FNN_PARAMS)), ValueError, "finite and > 0"),
        (
            lambda d: _state(d / "nan.npz", stds=np.full(FNN_PARAMS, np.nan)),
            ValueError,
            "finite and > 0",
        ),
    ],
    ids=["folder without one", "text file", "no stds", "another policy", "zeros", "NaN"],
)
def test_bad_sampling_states_fail_with_a_clear_error(tmp_path, make, error, needle):
    with pytest.raises(error, match=needle):
        load_sampling_stds(make(tmp_path), FNN_PARAMS)


def test_ipop_refuses_starting_stdevs(finished_sepcma_run, tmp_path):
    cfg = tiny_config(tmp_path / "i", optimizer="ipop", init_stds_from=str(finished_sepcma_run))
    with pytest.raises(ValueError, match="IPOP"):
        make_optimizer(cfg, FNN_PARAMS, seed=1)


def test_a_runs_sampling_state_is_exported_from_its_checkpoint(finished_sepcma_run, tmp_path):
    from anpolicy.training.run_files import export_sampling_state

    path, gen = export_sampling_state(finished_sepcma_run, tmp_path / "s.npz")
    assert gen == 6 and path == tmp_path / "s.npz"
    with np.load(path) as z, np.load(finished_sepcma_run / SAMPLING_STATE) as final:
        for key in ("stds", "center", "step_size", "generation"):
            assert np.array_equal(z[key], final[key]), key
    assert np.array_equal(load_sampling_stds(path, FNN_PARAMS), final_stds(finished_sepcma_run))


def final_stds(run):
    with np.load(run / SAMPLING_STATE) as z:
        return z["stds"]


def test_the_sampling_state_command_names_the_generation_and_fails_in_one_line(
    finished_sepcma_run, tmp_path, capsys
):
    import shutil

    from anpolicy.__main__ import main

    run = tmp_path / "copy"  # the fixture's folder stays as it is for the other tests
    shutil.copytree(finished_sepcma_run, run)
    assert main(["sampling-state", str(run)]) == 0
    written = run / "sampling_state_gen000006.npz"
    assert written.is_file() and str(written) in capsys.readouterr().out
    assert np.array_equal(load_sampling_stds(written, FNN_PARAMS), final_stds(run))
    assert main(["sampling-state", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no checkpoint.pkl" in err and "\n" not in err
