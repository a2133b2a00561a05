"""Shipping a fork of a run that was never shipped: the manifest names the run and the
generation it was forked at, and the agent's cost counts that run's hours up to there."""

from __future__ import annotations

import json

import pytest

from anpolicy.store.data import read_manifest, rename_shipped, ship_run
from anpolicy.study import recipe
from tests.test_train_cli import tiny_config


def _hours_upto(run, gen):
    rows = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines() if x]
    cpu, wall = 0.0, 0.0
    for r in rows:
        if r["gen"] <= gen:
            cpu, wall = cpu + (r["wall_s"] - wall) * r["threads"], r["wall_s"]
    return cpu / 3600


@pytest.fixture(scope="module")
def lineage(tmp_path_factory):
    """A shipped root; a run started from it and never shipped (``mid``, snapshots every
    generation); a fork of ``mid``'s generation-2 snapshot, shipped."""
    from anpolicy.training.train import train

    tmp = tmp_path_factory.mktemp("lineage")
    data = tmp / "data"
    train(tiny_config(tmp / "root", generations=2), progress=False)
    ship_run(tmp / "root", "root", data_dir=data)
    mid = tmp / "mid"
    cfg = tiny_config(mid, generations=4, snapshot_every=1, init_from=str(data / "agents/root.npz"))
    train(cfg, progress=False)
    snapshot = mid / "snapshots/gen_000002.npz"
    train(tiny_config(tmp / "fork", generations=2, init_from=str(snapshot)), progress=False)
    entry = ship_run(tmp / "fork", "fork", data_dir=data)
    return data, mid, snapshot, entry


def test_a_fork_records_the_run_and_generation_it_came_from(lineage):
    data, mid, snapshot, entry = lineage
    parent = entry["parent"]
    assert parent["run"] == "mid" and parent["generations"] == 2
    assert parent["file"] == str(snapshot) and "agent" not in parent
    assert parent["from_agent"] == "root"  # mid itself started from the shipped root
    assert parent["cpu_hours"] == pytest.approx(_hours_upto(mid, 2))
    assert 0 < parent["cpu_hours"] < _hours_upto(mid, 4)  # not the run's later generations


def test_the_forks_cost_counts_the_run_up_to_the_fork_and_the_runs_ancestors(lineage):
    data, _, _, entry = lineage
    manifest = read_manifest(data)["agents"]
    (fork,) = recipe.shipped_arms(manifest, ["fork"], data_dir=data)
    (root,) = recipe.shipped_arms(manifest, ["root"], data_dir=data)
    own = fork["cpu_hours"] - entry["parent"]["cpu_hours"] - root["cpu_hours"]
    assert own > 0 and fork["cpu_hours"] > root["cpu_hours"] + entry["parent"]["cpu_hours"]
    assert "continued from mid's generation 2" in fork["label"]


def test_renaming_the_runs_start_follows_it_in_the_forks_record(lineage):
    data = lineage[0]
    rename_shipped("root", "root_old", data)
    assert read_manifest(data)["agents"]["fork"]["parent"]["from_agent"] == "root_old"


def test_shipping_an_unfinished_run_says_how_to_finish_it(lineage, tmp_path):
    data, mid = lineage[0], lineage[1]
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "checkpoint.pkl").write_bytes((mid / "checkpoint.pkl").read_bytes())
    with pytest.raises(FileNotFoundError, match="has not finished.*--from-checkpoint"):
        ship_run(unfinished, "u", data_dir=data)
    assert "u" not in read_manifest(data)["agents"]
