"""anpolicy.study.step_rules: the recipe under two step-size rules, in words that follow
the numbers."""

from __future__ import annotations

import json

from anpolicy.study import step_rules


def _run(path, rule, seed, gens, val, sigma, test=None):
    """A run folder as the trainer writes it: validation ``val(gen)`` every 25 generations."""
    path.mkdir(parents=True)
    cfg = dict(optimizer="cma", seed=seed, popsize=4, rollouts=2, validate_every=25, threads=1)
    if rule is not None:
        cfg["cma_step_rule"] = rule
    (path / "config.json").write_text(json.dumps(cfg))
    rows = []
    for g in range(1, gens + 1):
        row = dict(gen=g, wall_s=float(g), step_size=sigma, threads=1)
        if g % 25 == 0:
            row.update(val_mean=val(g), val_se=1.0)
        rows.append(json.dumps(row))
    (path / "log.jsonl").write_text("\n".join(rows) + "\n")
    if test is not None:
        mean, lo, hi = test
        result = dict(stop_reason="step_size", test=dict(mean=mean, ci95=[lo, hi], n=2000))
        (path / "result.json").write_text(json.dumps(result))
    return path


def test_a_run_saved_before_the_option_ran_pycmas_default(tmp_path):
    assert step_rules.step_rule(_run(tmp_path / "old", None, 0, 25, float, 0.1)) == "pycma"
    assert step_rules.step_rule(_run(tmp_path / "new", "csa", 0, 25, float, 0.1)) == "csa"


def test_comparison_at_the_same_generation_follows_the_numbers_both_ways(tmp_path):
    tpa = [
        _run(tmp_path / f"tpa{s}", None, s, 300, lambda g, s=s: 200.0 + s, 1e-4, (250, 240, 260))
        for s in range(2)
    ]
    csa_up = _run(tmp_path / "up", "csa", 0, 110, lambda g: 300.0 if g == 100 else 0.0, 0.12)
    s = step_rules.compare_step_rules(tpa, [csa_up], target=471)
    assert "at 0.12 after 110 generations (unfinished" in s
    assert "At generation 100, the latest every run reached, CSA validates at 300 against" in s
    assert "against 200–201 for the 2 TPA runs: above every one of them" in s
    assert "Best validation so far: CSA 300, TPA 200–201 (CSA above every" in s
    assert "climbing" not in s  # 110 generations: no validations 1,000 generations back
    assert "  " not in s and s.endswith(".")  # no empty sentence where the trend is missing
    csa_down = _run(tmp_path / "down", "csa", 1, 100, lambda g: 150.0, 0.05, (480, 460, 500))
    s = step_rules.compare_step_rules(tpa, [csa_down], target=471)
    assert "CSA validates at 150" in s and "below every one of them" in s
    assert "Best validation: CSA 150, TPA 200–201 (CSA below every one of them)" in s
    assert "Test, CSA seed 1: 480 [460, 500] (n = 2,000), consistent with Tang & Ha's 471" in s


def test_nothing_to_compare_without_both_rules(tmp_path):
    tpa = [_run(tmp_path / "tpa", None, 0, 50, float, 1e-4)]
    assert "nothing to compare" in step_rules.compare_step_rules(tpa, [tmp_path / "no"], 471)


def test_the_comparison_stays_at_a_generation_every_run_reached(tmp_path):
    """A CSA run past every TPA run is compared where the shortest run stopped, and an
    unfinished run says whether it still climbs, both ways."""
    tpa = [
        _run(tmp_path / f"tpa{s}", None, s, g, lambda g: 200.0, 1e-4, (250, 240, 260))
        for s, g in ((0, 1300), (1, 3000))
    ]
    up = _run(tmp_path / "up", "csa", 0, 2600, lambda g: 100.0 + g / 10, 0.1)
    s = step_rules.compare_step_rules(tpa, [up], target=471)
    assert "At generation 1,300, the latest every run reached, CSA validates at 230" in s
    assert "Best validation so far: CSA 360, TPA 200 (CSA above every one of them)" in s
    # last 10 checks (gens 2,375-2,600) average 348.75; the 10 ending at 1,600: 248.75
    assert "CSA seed 0 is still climbing: its last 10 validations average 349, against 249" in s
    flat = _run(tmp_path / "flat", "csa", 1, 2600, lambda g: 190.0 - g / 100, 0.1)
    s = step_rules.compare_step_rules(tpa, [flat], target=471)
    assert "CSA seed 1 is not climbing" in s and "below every one of them" in s


def test_the_csa_reproduction_verdict_follows_the_test_score(tmp_path):
    below = _run(tmp_path / "below", "csa", 0, 100, float, 0.05, (373, 359, 388))
    s = step_rules.csa_reproduction_sentence([below], target=471, generations=100)
    assert "seed 0, ran 100 generations (0.0 M episodes" in s
    assert "tests at 373 [359, 388] (n = 2,000, shuffled at reset): below Tang & Ha's 471." in s
    near = _run(tmp_path / "near", "csa", 1, 100, float, 0.05, (465, 450, 480))
    s = step_rules.csa_reproduction_sentence([near], target=471, generations=100)
    assert "consistent with Tang & Ha's 471" in s
    running = _run(tmp_path / "running", "csa", 2, 60, float, 0.05)
    s = step_rules.csa_reproduction_sentence([running], target=471, generations=14000)
    assert "is unfinished at generation 60 of 14,000" in s and "tests at" not in s
    assert "no run yet" in step_rules.csa_reproduction_sentence([tmp_path / "no"], 471, 14000)
