"""anpolicy.study.arms: the arms' sentence follows their run summaries."""

from __future__ import annotations

from anpolicy.study import arms


def _row(**kw):
    base = dict(
        run="ipop_seed0",
        optimizer="ipop",
        step_rule="pycma",
        seed=0,
        generations=1200,
        episodes_m=5.7344,
        cpu_hours=0.5,
        restarts=2,
        final_popsize=1024,
        final_step_size=0.9,
        peak_step_size=64.0,
        peak_step_generation=1357,
        best_validation=250.4,
        best_generation=800,
        stop_reason="running",
        test_mean=float("nan"),
        test_lo=float("nan"),
        test_hi=float("nan"),
        test_n=0,
    )
    return {**base, **kw}


def test_an_unfinished_ipop_run_and_a_finished_csa_run():
    s = arms.arms_sentence(
        [
            _row(),
            _row(
                run="recipe_csa_seed0",
                optimizer="cma",
                step_rule="csa",
                restarts=0,
                stop_reason="generations",
                test_mean=480.2,
                test_lo=466.0,
                test_hi=494.4,
                test_n=2000,
            ),
        ],
        budget_m=57.344,
    )
    assert "IPOP-CMA-ES (ipop_seed0, seed 0): 1,200 generations, 5.7 M episodes (10 % of" in s
    assert "2 restarts (population now 1,024)" in s and "unfinished (resumable)" in s
    assert "CMA-ES with CSA (recipe_csa_seed0, seed 0)" in s
    assert "test 480 [466, 494] (n = 2,000)" in s
    assert s.count("restart") == 1  # the CSA run has none
    assert "step size" in s and "now, at most" in s  # the unfinished IPOP run's step size


def test_a_finished_run_says_final_not_now():
    done = dict(stop_reason="episodes", test_mean=241.8, test_lo=230.2, test_hi=253.4, test_n=2000)
    s = arms.arms_sentence([_row(**done)], budget_m=57.344)
    assert "2 restarts (final population 1,024)" in s and "at the end, at most" in s
    assert " now" not in s and "test 242 [230, 253] (n = 2,000)" in s


def test_no_arm_yet():
    assert arms.arms_sentence([], 57.344) == "No arm has a run folder yet."


def test_a_cma_arm_says_where_its_step_size_went_a_pgpe_arm_does_not():
    ipop = _row(final_step_size=1.27, peak_step_size=55.18, peak_step_generation=1296)
    pgpe = _row(run="fnn_finetune_seed1", optimizer="pgpe", restarts=0, final_step_size=0.03)
    pgpe.update(policy="fnn", init_from="data/agents/fnn.npz", seed=1)
    s = arms.arms_sentence([ipop, pgpe], budget_m=57.344)
    assert "step size 1.3 now, at most 55 (generation 1,296)" in s
    assert s.count("step size") == 1
    assert "PGPE on the FNN from fnn.npz (fnn_finetune_seed1, seed 1)" in s


def test_an_arm_started_from_a_run_and_trained_shuffled_says_so():
    row = _row(run="an_finetune_seed1", optimizer="pgpe", seed=1, train_shuffle="reset")
    row["init_from"] = "data/runs/recipe_csa_seed0/agent.npz"
    assert arms.arm_label(row) == (
        "PGPE from recipe_csa_seed0, trained shuffled at reset (an_finetune_seed1, seed 1)"
    )
    assert "trained with every:25 (" in arms.arm_label({**row, "train_shuffle": "every:25"})
    sep = {**row, "optimizer": "sepcma", "step_rule": "csa", "upright_starts": 0.25}
    assert arms.arm_label(sep) == (
        "separable CMA-ES with CSA from recipe_csa_seed0, trained shuffled at reset, 25% of "
        "training episodes starting upright (an_finetune_seed1, seed 1)"
    )
    wide = {**sep, "upright_starts": 0.0, "popsize": 512, "rollouts": 16}
    assert arms.arm_label(wide) == (
        "separable CMA-ES with CSA from recipe_csa_seed0, trained shuffled at reset, "
        "population 512 × 16 rollouts (an_finetune_seed1, seed 1)"
    )
    assert "population" not in arms.arm_label({**wide, "popsize": 256})  # the authors'
    assert "σ0" not in arms.arm_label(wide) + arms.arm_label({**row, "sigma0": 0.02})  # PGPE
    small = {**wide, "sigma0": 0.0285, "init_stds_from": "data/runs/an_sepcma_ft3_seed11"}
    assert arms.arm_label(small) == (
        "separable CMA-ES with CSA from recipe_csa_seed0, trained shuffled at reset, sampling "
        "with an_sepcma_ft3_seed11's final stdevs, population 512 × 16 rollouts "
        "(an_finetune_seed1, seed 1)"
    )
    assert "σ0 = 0.045," in arms.arm_label({**wide, "sigma0": 0.045})
    state = {**small, "init_stds_from": "data/runs/an_sepcma_ft3_seed11/sampling_state.npz"}
    assert arms.arm_label(state) == arms.arm_label(small)


def test_a_fork_of_a_running_run_names_the_generations_it_started_from():
    fork = _row(run="an_sepcma_scratch13_ft_seed16", optimizer="sepcma", seed=16)
    fork.update(step_rule="csa", train_shuffle="reset", rollouts=32, sigma0=0.1165)
    fork["init_from"] = "data/runs/sepcma_scratch_seed13/snapshots/gen_008000.npz"
    fork["init_stds_from"] = "data/runs/sepcma_scratch_seed13/sampling_state_gen008652.npz"
    assert arms.arm_label(fork) == (
        "separable CMA-ES with CSA from sepcma_scratch_seed13's generation 8,000, trained "
        "shuffled at reset, sampling with sepcma_scratch_seed13's stdevs at generation 8,652, "
        "population 256 × 32 rollouts (an_sepcma_scratch13_ft_seed16, seed 16)"
    )
    best = {**fork, "init_from": "data/runs/sepcma_scratch_seed13/best.npz"}
    assert " from sepcma_scratch_seed13, trained" in arms.arm_label(best)


def test_a_finished_arm_that_was_shipped_says_under_which_name():
    done = dict(stop_reason="minutes", test_mean=611.6, test_lo=592.1, test_hi=631.1)
    fnn = _row(run="fnn_finetune_seed1", optimizer="pgpe", restarts=0, **done, test_n=2000)
    s = arms.arms_sentence([fnn, {**fnn, "shipped_as": "fnn"}], budget_m=57.344)
    assert s.count("test 612 [592, 631] (n = 2,000)") == 2
    assert s.count(", shipped as fnn.") == 1


def test_the_summary_names_the_best_finished_attention_neuron_arm_and_the_unfinished():
    done = dict(stop_reason="generations", test_n=2000)
    csa = _row(run="recipe_csa_seed0", optimizer="cma", step_rule="csa", restarts=0, **done)
    csa.update(test_mean=373.3, test_lo=358.9, test_hi=387.6)
    ipop = _row(**done, test_mean=241.8, test_lo=230.2, test_hi=253.4)
    fnn = _row(run="fnn_finetune_seed1", optimizer="pgpe", policy="fnn", **done)
    fnn.update(test_mean=611.6, test_lo=592.1, test_hi=631.1)
    s = arms.arms_summary([ipop, csa, fnn, _row(run="an_finetune_seed1")], target=471)
    assert s.startswith(
        "Of 2 finished Attention Neuron arms, the best, recipe_csa_seed0 (CMA-ES with CSA), "
        "tests at 373 [359, 388], below the paper's 471; "
    )
    assert "the FNN arm (fnn_finetune_seed1) tests at 612 [592, 631] unshuffled" in s
    assert s.endswith("unfinished (resumable): an_finetune_seed1.")
    assert "consistent with the paper's 380" in arms.arms_summary([csa], target=380)
    fnn2 = {**fnn, "run": "fnn_sepcma_seed10", "test_mean": 612.6, "test_lo": 593.0}
    two = arms.arms_summary([csa, fnn, fnn2], target=471)
    assert "the best of 2 finished FNN arms (fnn_sepcma_seed10) tests at 613 [593, 631]" in two
    assert "fnn_finetune_seed1" not in two
    assert arms.arms_summary([_row()], 471).startswith("No Attention Neuron arm has finished")


def test_the_arms_figure_draws_each_run_to_its_last_logged_episode_in_its_groups_row():
    import matplotlib

    matplotlib.use("Agg")
    from anpolicy.report.training_plots import arms_figure
    from anpolicy.study import recipe

    runs = ["data/runs/ipop_seed0", "data/runs/fnn_finetune_seed1", "data/runs/no_such_run"]
    runs.append("data/runs/an_sepcma_ft_seed4")
    fig = arms_figure(runs, 57.344e6, 471)
    rows = fig.subfigs  # one per non-empty group, in ARM_GROUPS' order
    titles = [sub.axes[0].get_title(loc="left") for sub in rows]
    assert titles == [
        "Attention Neuron from x0 = 0",
        "Attention Neuron continued from another agent (its own episodes only)",
        "FNN (validated unshuffled)",
    ]
    legends = [[t.get_text() for t in sub.legends[0].get_texts()] for sub in rows]
    assert legends[0] == ["IPOP-CMA-ES (ipop_seed0, seed 0)", "Tang & Ha's test score (471)"]
    assert legends[1][0].endswith("(an_sepcma_ft_seed4, seed 4)")
    assert legends[2] == [
        "PGPE on the FNN from fnn_565.npz, population 256 × 32 rollouts "
        "(fnn_finetune_seed1, seed 1)",
        "Tang & Ha's test score (593)",  # the FNN's own, unshuffled
    ]  # a run folder without a log is left out
    for sub, run in zip(rows, [runs[0], runs[3], runs[1]], strict=True):
        want = recipe.summarize_run(run)["episodes_m"]
        assert any(ln.get_xdata()[-1] == want for ln in sub.axes[1].get_lines()), run
    matplotlib.pyplot.close(fig)
    empty = arms_figure(["data/runs/no_such_run"], 57.344e6, 471)
    assert [t.get_text() for t in empty.texts] == ["No arm has a run folder yet."]
    matplotlib.pyplot.close(empty)


def test_the_validation_protocol_groups_runs_by_their_episodes_and_seed():
    runs = ["data/runs/ipop_seed0", "data/runs/fnn_finetune_seed1", "data/runs/recipe_csa_seed0"]
    assert arms.validation_protocol(runs) == (
        "512 held-out episodes, seed 1000001 (ipop_seed0, recipe_csa_seed0); "
        "2,048, seed 1000001 (fnn_finetune_seed1)"
    )
    assert arms.validation_protocol(["data/runs/no_such_run"]) == "no run"


def test_the_large_sample_sentence_sets_many_episodes_against_the_manifest_test_and_evojax():
    shipped = {
        "test": {"mean": 611.56, "ci95": [592.0503, 631.0711], "n": 2000},
        "test_protocol": "2000 episodes, seed 2000003, no shuffling",
    }
    large = {"mean": 628.5, "ci95": [622.4, 634.6], "n": 20000}
    s = arms.large_sample_sentence("the FNN", large, 5000011, shipped)
    assert s == (
        "On 20,000 further episodes (seed 5000011) the FNN scores 628.5 [622.4, 634.6], "
        "consistent with EvoJAX's PGPE MLP (631.1); its manifest test, 611.6 [592.1, 631.1] "
        "on 2,000 episodes, is one sample (±20)."
    )
    low = {**large, "mean": 610.0, "ci95": [604.0, 616.0]}
    assert "610.0 [604.0, 616.0], below EvoJAX's" in arms.large_sample_sentence(
        "x", low, 1, shipped
    )


def test_the_standing_sentence_follows_the_ci_not_the_mean():
    entry = {"test": {"mean": 460.0, "ci95": (443.0, 477.0), "n": 2000}, "test_protocol": "P"}
    assert arms.standing_sentence("a", entry, 471) == (
        "Our Attention Neuron (a) tests at 460 [443, 477] on 2,000 episodes, consistent with "
        "Tang & Ha's 471."
    )
    low = {**entry, "test": {"mean": 444.0, "ci95": (427.0, 461.0), "n": 2000}}
    assert ", below Tang & Ha's 471." in arms.standing_sentence("a", low, 471)
    high = {**entry, "test": {"mean": 500.0, "ci95": (482.0, 518.0), "n": 2000}}
    assert ", above Tang & Ha's 471." in arms.standing_sentence("a", high, 471)
