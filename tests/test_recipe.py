"""anpolicy.study.recipe: run summaries read back what the trainer wrote."""

from __future__ import annotations

import json
import math

import pytest

from anpolicy.study import recipe
from anpolicy.training.train import TrainConfig, train

TINY = dict(
    policy="fnn",
    optimizer="pgpe",
    popsize=8,
    rollouts=2,
    validate_every=2,
    validate_episodes=8,
    test_episodes=8,
    threads=1,
    checkpoint_minutes=0.0,
    snapshot_every=0,
)


def test_a_finished_and_a_running_run_are_summarised_from_their_files(tmp_path):
    train(TrainConfig(**TINY, generations=4, run_dir=str(tmp_path / "done")), progress=False)
    done = recipe.summarize_run(tmp_path / "done")
    result = json.loads((tmp_path / "done/result.json").read_text())
    rows = recipe.read_log(tmp_path / "done")
    assert done["generations"] == 4 and done["stop_reason"] == "generations"
    assert done["episodes_m"] == pytest.approx(4 * 8 * 2 / 1e6)
    assert done["test_mean"] == result["test"]["mean"] and done["test_n"] == 8
    assert done["best_validation"] == max(r["val_mean"] for r in rows if "val_mean" in r)
    assert math.isnan(done["val_500"])  # never got there
    # a run without result.json is still running: no test score
    (tmp_path / "done/result.json").unlink()
    running = recipe.summarize_run(tmp_path / "done")
    assert running["stop_reason"] == "running" and math.isnan(running["test_mean"])
    c = recipe.curves(tmp_path / "done")
    assert list(c["val"]) == [r["val_mean"] for r in rows if "val_mean" in r]
    assert len(c["episodes_m"]) == len(c["val"]) == 2


def test_missing_runs_are_skipped_and_an_empty_log_is_refused(tmp_path):
    assert recipe.summarize_runs([tmp_path / "nowhere"]) == []
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty/config.json").write_text(json.dumps(TrainConfig(**TINY).__dict__))
    (tmp_path / "empty/log.jsonl").write_text("")
    with pytest.raises(ValueError, match="no generation"):
        recipe.summarize_run(tmp_path / "empty")


def _row(mean, lo, hi, stop="step_size"):
    return {"test_mean": mean, "test_lo": lo, "test_hi": hi, "stop_reason": stop}


def test_reproduction_sentence_sorts_runs_against_the_target():
    rows = [_row(250, 230, 270), _row(470, 450, 490), _row(520, 500, 540), _row(0, 0, 0, "running")]
    s = recipe.reproduction_sentence(rows, target=471, planned=5)
    assert "3 of the 5 planned runs have finished" in s
    assert "1 below" in s and "1 consistent" in s and "1 above" in s
    assert "1 unfinished (resumable)" in s
    assert "range from 250 to 520 (median 470)" in s
    s = recipe.reproduction_sentence([_row(0, 0, 0, "running")], target=471, planned=5)
    assert s.startswith("No run of the 5 planned has finished")


def test_table_formats_running_and_finished_runs():
    rows = [
        {
            "run": "a",
            "seed": 0,
            "generations": 10,
            "episodes_m": 0.04,
            "cpu_hours": 0.1,
            "wall_h": 0.1,
            "final_step_size": 1e-4,
            "best_validation": 200.0,
            "best_generation": 10,
            **{f"val_{g}": float("nan") for g in recipe.CHECKPOINTS},
            "test_mean": 250.0,
            "test_lo": 240.0,
            "test_hi": 260.0,
            "test_n": 2000,
            "stop_reason": "step_size",
        }
    ]
    t = recipe.table(rows)
    assert t.loc["a", "test [95 % CI]"] == "250 [240, 260] (n=2000)"
    assert t.loc["a", "final σ"] == "1.0e-04" and t.loc["a", "validation at 500"] == "—"
    assert t.loc["a", "wall-clock (h)"] == "0.10"


def _done(mean, lo, hi, stop="step_size", hours=2.0, eps=10.0):
    return {**_row(mean, lo, hi, stop), "cpu_hours": hours, "episodes_m": eps}


ARM = {"label": "pgpe_agent (PGPE)", "test": {"mean": 350.0, "ci95": [335.0, 365.0]}}
ARM["cpu_hours"] = 6


def _answer(rows, arms=(), planned=5):
    return recipe.training_answer(rows, 471, planned, 18432, 57.3, arms)


def test_training_answer_counts_finished_seeds_honestly():
    running = {**_row(0, 0, 0, "running"), "cpu_hours": 0.1, "episodes_m": 0.5}
    two = _answer([_done(250, 237, 262), _done(200, 190, 211, "generations"), running])
    assert "2 of 5 seeds finished, 1 unfinished (resumable), 2 not started" in two
    assert "both below it" in two and "median 225" in two
    assert "1 of 2 on a step size below its threshold, 1 of 2 at its generation cap" in two
    three = _answer([_done(250, 237, 262), _done(200, 190, 211), _done(300, 290, 310)])
    assert "3 of 5 seeds finished, 2 not started" in three and "all 3 below it" in three
    assert "unfinished" not in three
    five = _answer([_done(250, 237, 262)] * 5)
    assert "5 of 5 seeds finished)" in five
    none = _answer([running])
    assert none.startswith("The authors' recipe has no finished seed yet (0 of 5")
    assert "Not at" not in none and "Yes" not in none


def test_training_answer_follows_the_scores_and_costs_both_ways():
    below = _answer([_done(250, 237, 262), _done(200, 190, 211)])
    assert below.startswith("Not at the budgets spent here: all 2 finished runs score below")
    reached = _answer([_done(250, 237, 262), _done(470, 450, 490)])
    assert reached.startswith("Yes, on 1 of the 2 finished runs")
    assert "1 of 2 below it, 1 of 2 consistent with it" in reached
    above = _answer([_done(520, 500, 540), _done(530, 510, 550)])
    assert "both above it" in above and above.startswith("Yes, on 2 of the 2")
    # the cost follows the runs' hours and episodes
    assert "2.0 CPU-hours here" in below and "10.0 M training episodes (17 %" in below
    costly = _answer([_done(250, 237, 262, hours=40.0, eps=57.3)])
    assert "40.0 CPU-hours here" in costly and "(100 % of the authors' 57.3 M)" in costly
    assert "18,432 CPU-hours" in costly


def test_training_answer_places_the_other_arms():
    rows = [_done(250, 237, 262)]
    s = _answer(rows, [ARM])
    assert "pgpe_agent (PGPE) 350 [335, 365] after 6.0 CPU-hours (below 471" in s
    assert "above every finished recipe seed" in s
    assert s.startswith("Not at the budgets spent here: all 2 finished runs (1 recipe seed, 1 ")
    good = _answer(rows, [{**ARM, "test": {"mean": 480.0, "ci95": [460.0, 500.0]}}])
    assert "(consistent with 471" in good and good.startswith("Yes, on 1 of the 2")
    weak = _answer(rows, [{**ARM, "test": {"mean": 38.0, "ci95": [36.0, 40.0]}}])
    assert "below the best recipe seed" in weak
    two = _answer(rows, [ARM, {**ARM, "label": "other (CMA)"}])  # the same placement: once
    assert "The other arms, each below 471, above every finished recipe seed: pgpe_agent " in two
    assert two.endswith("after 6.0 CPU-hours; other (CMA) 350 [335, 365] after 6.0 CPU-hours.")
    mixed = _answer(rows, [ARM, {**ARM, "test": {"mean": 38.0, "ci95": [36.0, 40.0]}}])
    assert (
        "The other arms: pgpe_agent (PGPE) 350 [335, 365] after 6.0 CPU-hours (below 471, " in mixed
    )
    assert mixed.count("(below 471") == 2


def _cands(*curves):
    return {
        "candidates": [
            {"curve": [{"val_mean": m, "val_se": s} for m, s in curve]} for curve in curves
        ]
    }


def test_candidates_against_start_counts_last_validations_by_the_start_interval():
    # start 100 +- 1.96 * 10 = [80, 120]: last 130 above, 100 inside, 50 below (the best
    # of a curve does not count, only its last point)
    c = _cands([(90, 10), (130, 10)], [(200, 10), (100, 10)], [(50, 10)])
    text = recipe.candidates_against_start(c, 100.0, 10.0)
    assert text.startswith("1 of the 3 ended above the starting agent's 100 [80, 120]")
    assert "1 inside that interval, 1 below it" in text
    assert recipe.candidates_against_start(c, 300.0, 1.0).startswith("none of the 3")
    assert recipe.candidates_against_start(c, 0.0, 1.0).startswith("all of the 3")


def test_first_and_best_follows_the_numbers():
    apart = _cands([(90, 1), (300, 5)], [(110, 1), (200, 5)])
    text = recipe.first_and_best(apart, 100.0)
    assert text.startswith("the 95 % intervals of the two best validations (±10) do not overlap;")
    assert text.endswith("first validations 90 and 110: 1 of 2 below the starting agent's 100")
    close = _cands([(90, 1), (210, 5)], [(95, 1), (200, 5)])
    text = recipe.first_and_best(close, 100.0)
    assert "(±10) overlap;" in text and text.endswith("both below the starting agent's 100")


def test_a_run_is_shipped_as_the_manifest_agent_with_its_bytes(tmp_path):
    from anpolicy.store.data import DATA_DIR, read_manifest

    train(TrainConfig(**TINY, generations=2, run_dir=str(tmp_path / "run")), progress=False)
    assert recipe.summarize_run(tmp_path / "run")["shipped_as"] == ""  # a new agent
    shipped = read_manifest()["agents"]["fnn"]["file"]
    (tmp_path / "run/agent.npz").write_bytes((DATA_DIR / shipped).read_bytes())
    assert recipe.summarize_run(tmp_path / "run")["shipped_as"] == "fnn"


def test_a_shipped_arm_costs_its_own_hours_and_every_ancestors():
    from anpolicy.store.data import cpu_seconds, load_log, read_manifest

    manifest = read_manifest()["agents"]

    def own(name):
        return cpu_seconds(load_log(name), manifest[name]["config"].get("threads", 1)) / 3600

    leaf = "attention_neuron_sepcma_ft2"  # fine-tuned three times from the CSA recipe's agent
    chain = [leaf]  # the agent, its parent, its parent's parent, ...
    while manifest[chain[-1]].get("parent", {}).get("agent") in manifest:
        chain.append(manifest[chain[-1]]["parent"]["agent"])
    assert len(chain) >= 3, chain  # fine-tuned twice at least: a grandparent to count
    (arm,) = recipe.shipped_arms(manifest, [leaf])
    assert arm["cpu_hours"] == pytest.approx(sum(own(n) for n in chain))
    assert arm["cpu_hours"] > own(chain[0]) + own(chain[1])
    # a parent that loops back is counted once
    root = chain[-1]
    looped = {**manifest, root: {**manifest[root], "parent": {"agent": leaf}}}
    (arm,) = recipe.shipped_arms(looped, [leaf])
    assert arm["cpu_hours"] == pytest.approx(sum(own(n) for n in chain))
    # a fork of a run never shipped counts that run's hours up to the fork
    run_parent = manifest["attention_neuron"].get("parent", {})
    if "run" in run_parent:
        (arm,) = recipe.shipped_arms(manifest, ["attention_neuron"])
        want = own("attention_neuron") + run_parent["cpu_hours"]
        assert arm["cpu_hours"] == pytest.approx(want) and run_parent["cpu_hours"] > 1
        assert f"continued from {run_parent['run']}'s generation" in arm["label"]
