"""anpolicy.study.experiments: merged condition runs, sweeps, recovery times, policy ablations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from anpolicy.sim.interventions import (
    PermuteStateAtReshuffle,
    ResetStateAtReshuffle,
    ZeroPreviousAction,
    ZeroStateEveryStep,
)
from anpolicy.sim.policy import AttentionNeuronPolicy
from anpolicy.sim.rollout import rollout
from anpolicy.sim.schedules import PermutationSchedule
from anpolicy.study.experiments import (
    Condition,
    disturbance_onsets,
    identical_fraction,
    median_ci,
    pre_level,
    proportion_ci,
    random_position_tables,
    recovery_analysis,
    recovery_times,
    run_conditions,
    shuffled_position_tables,
    single_reshuffle_conditions,
    summaries,
    summarize_recovery,
    sweep_conditions,
    uniform_attention,
    with_positions,
)

KW = dict(seed=5, max_steps=200)


@pytest.fixture(autouse=True)
def _one_thread():
    """Small batches: one thread is faster (and spares a shared machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------- recovery times


def _flat(n_steps=400, level=0.95):
    return np.full(n_steps, level)


def test_recovery_time_of_an_undisturbed_trace_is_zero():
    r = _flat()[None]
    assert recovery_times(r, 100, [0.95], tol=0.1, hold=50)[0] == 0
    assert np.isinf(disturbance_onsets(r, 100, [0.95], tol=0.1)[0])


def test_recovery_time_is_measured_to_the_end_of_the_last_dip():
    r = _flat()
    r[110:140] = 0.2  # first dip
    r[200:230] = 0.5  # second dip, the last one
    tau = recovery_times(r[None], 100, [0.95], tol=0.1, hold=50)[0]
    assert tau == 130  # back in the band from step 230 = 100 + 130 on, for good
    assert disturbance_onsets(r[None], 100, [0.95], tol=0.1)[0] == 10
    # dips before t0 do not count; a dip inside the tolerance does not either
    r2 = _flat()
    r2[50:60] = 0.0
    r2[150:160] = 0.9
    assert recovery_times(r2[None], 100, [0.95], tol=0.1, hold=50)[0] == 0


def test_falling_off_the_track_or_late_recovery_is_never():
    ended = _flat()
    ended[300:] = np.nan  # episode ended at step 300 (cart left the track)
    late = _flat()
    late[120:370] = 0.0  # back at 370: only 30 steps of confirmation before T = 400
    just = _flat()
    just[120:350] = 0.0  # back at 350: 50 steps of confirmation, enough
    tau = recovery_times(np.stack([ended, late, just]), 100, [0.95] * 3, tol=0.1, hold=50)
    assert np.isinf(tau[0]) and np.isinf(tau[1]) and tau[2] == 250


def test_recovery_times_reject_bad_shapes():
    with pytest.raises(ValueError):
        recovery_times(np.zeros((2, 10)), 3, [0.5])
    with pytest.raises(ValueError):
        recovery_times(np.zeros((1, 10)), 10, [0.5])
    with pytest.raises(ValueError):
        pre_level(np.zeros((1, 10)), 3, window=5)


def test_pre_level_and_summary_statistics():
    r = np.arange(20, dtype=float)[None]
    assert pre_level(r, 10, window=4)[0] == pytest.approx(7.5)
    tau = np.array([0, 0, 0, 100, 200, 300, np.inf])
    s = summarize_recovery(tau)
    assert s["n"] == 7 and s["n_never"] == 1 and s["n_undisturbed"] == 3
    assert s["median"] == 100 and s["disturbed_median"] == 200
    assert s["never_frac"] == pytest.approx(1 / 7)
    lo, hi = s["never_ci95"]
    assert 0 < lo < 1 / 7 < hi < 1
    # more than half never recover: the median is infinite (reported as None)
    assert summarize_recovery([np.inf, np.inf, 5.0])["median"] is None
    med, (lo, hi) = median_ci(np.arange(101.0))
    assert med == 50 and lo < 50 < hi
    assert proportion_ci(0, 10)[0] == 0.0 and proportion_ci(10, 10)[1] == 1.0


# --------------------------------------------------------- merged conditions


@pytest.fixture
def agent(random_an_params):
    return AttentionNeuronPolicy(), random_an_params(scale=0.4, seed=3)[0]


def test_merged_conditions_equal_separate_rollouts(agent):
    pol, params = agent
    conds = [
        Condition("none"),
        Condition("every_30", PermutationSchedule.every(30)),
        Condition("reset_40", PermutationSchedule.every(40, True), (ResetStateAtReshuffle(),)),
        Condition("abs_25", PermutationSchedule.every(25), (PermuteStateAtReshuffle("absolute"),)),
        Condition("zero_c", interventions=(ZeroStateEveryStep(("c",)),)),
        Condition("zero_a_some", interventions=(ZeroPreviousAction(episodes=[1, 3]),)),
    ]
    merged = run_conditions(pol, params, conds, 16, **KW)
    assert list(merged) == [c.name for c in conds]
    for c in conds:
        alone = rollout(pol, params, 16, schedule=c.schedule, interventions=c.interventions, **KW)
        assert merged[c.name].returns.shape == (1, 16)
        np.testing.assert_allclose(merged[c.name].returns, alone.returns, atol=1e-3)
        np.testing.assert_array_equal(merged[c.name].lengths, alone.lengths)
    # the templates were not modified (each run restricts copies of them)
    assert conds[2].interventions[0].episodes is None
    # the interventions did act: every condition differs from the baseline somewhere
    for c in conds[1:]:
        assert np.abs(merged[c.name].returns - merged["none"].returns).max() > 1e-2, c.name
    # the episode subset stays within its condition: episodes 1 and 3 only
    d = np.abs(merged["zero_a_some"].returns - merged["none"].returns)[0]
    assert (d[[0, 2, 4, 5]] < 1e-4).all() and (d[[1, 3]] > 1e-3).any()


def test_chunking_does_not_change_results(agent):
    pol, params = agent
    variants = {"nothing": lambda: (), "reset": lambda: [ResetStateAtReshuffle()]}
    conds = sweep_conditions([20, 50], variants)
    a = run_conditions(pol, params, conds, 10, **KW)
    b = run_conditions(pol, params, conds, 10, max_batch=10, **KW)  # one condition per rollout
    for name in a:
        np.testing.assert_allclose(a[name].returns, b[name].returns, atol=1e-3)


def test_sweep_conditions_names_and_schedules():
    conds = sweep_conditions([25, 50], {"a": lambda: (), "b": lambda: [ResetStateAtReshuffle()]})
    assert [c.name for c in conds] == ["a@25", "a@50", "b@25", "b@50"]
    assert conds[1].schedule.interval == 50 and not conds[1].schedule.initial_identity
    assert len(conds[2].interventions) == 1
    assert sweep_conditions([10], initial_identity=True)[0].schedule.initial_identity
    with pytest.raises(ValueError):
        run_conditions(None, None, [Condition("x"), Condition("x")], 4)


def test_relative_state_permutation_recovers_unshuffled_returns(agent, random_an_params):
    pol, _ = agent
    params = random_an_params(population=3, scale=0.4, seed=8)  # P = 3 members at once
    conds = [Condition("none")] + sweep_conditions(
        [20, 45],
        {
            "nothing": lambda: (),
            "relative": lambda: [PermuteStateAtReshuffle("relative")],
            "absolute": lambda: [PermuteStateAtReshuffle("absolute")],
        },
        initial_identity=True,
    )
    res = run_conditions(pol, params, conds, 12, **KW)
    for k in (20, 45):
        same = identical_fraction(res[f"relative@{k}"].returns, res["none"].returns)
        assert same["frac_identical"] == 1.0 and same["n"] == 36
        assert (
            identical_fraction(res[f"nothing@{k}"].returns, res["none"].returns)["frac_identical"]
            < 0.9
        )
        # the study's absolute variant: wrong from the second reshuffle on
        assert (
            identical_fraction(res[f"absolute@{k}"].returns, res["none"].returns)["frac_identical"]
            < 0.9
        )
    s = summaries(res, baseline="none", member=2)
    assert s["relative@20"]["diff"]["mean"] == pytest.approx(0.0, abs=1e-3)
    assert "diff" not in s["none"] and s["none"]["n"] == 12


def test_absolute_variant_is_right_at_a_first_reshuffle_from_identity(agent):
    pol, params = agent
    conds = [
        Condition("none"),
        Condition("abs_once", PermutationSchedule.at_steps([60], True),
                  (PermuteStateAtReshuffle("absolute"),)),
        Condition("abs_random_start", PermutationSchedule.at_steps([60]),
                  (PermuteStateAtReshuffle("absolute"),)),
    ]  # fmt: skip
    res = run_conditions(pol, params, conds, 12, **KW)
    assert identical_fraction(res["abs_once"].returns, res["none"].returns)["frac_identical"] == 1
    assert (
        identical_fraction(res["abs_random_start"].returns, res["none"].returns)["max_abs_diff"]
        > 1e-2
    )


def test_recorded_rewards_sum_to_returns_and_recovery_analysis_runs(agent):
    pol, params = agent
    res = run_conditions(
        pol, params, single_reshuffle_conditions([50]), 10, record_rewards=True, **KW
    )
    for r in res.values():
        assert r.rewards.shape == (1, 10, 200)
        np.testing.assert_allclose(np.nansum(r.rewards, axis=2), r.returns, atol=1e-3)
        assert (np.isfinite(r.rewards[0]).sum(axis=1) == r.lengths[0]).all()
    a = recovery_analysis(res["none"], res["at_50"], 50, window=20, min_level=-1.0, hold=20)
    n_el = int(a["eligible"].sum())
    assert n_el == int((res["none"].lengths[0] > 50).sum())
    assert a["tau_none"].shape == a["tau_shuffled"].shape == (n_el,)
    # identical before t0
    np.testing.assert_allclose(a["rewards_none"][:, :50], a["rewards_shuffled"][:, :50])
    with pytest.raises(ValueError):
        recovery_analysis(
            run_conditions(pol, params, [Condition("none")], 4, **KW)["none"], res["at_50"], 50
        )


# ------------------------------------------------------- policy-level ablations


def test_uniform_attention_removes_channel_selection(agent):
    att = torch.randn(2, 3, 16, 5)
    u = uniform_attention(att)
    assert u.shape == att.shape
    assert torch.allclose(u, u[..., :1].expand_as(u))
    assert torch.allclose(u.mean(-1), att.mean(-1))
    pol, params = agent
    upol = AttentionNeuronPolicy(attention_transform=uniform_attention)
    base = rollout(pol, params, 6, **KW).returns
    assert np.abs(rollout(upol, params, 6, **KW).returns - base).max() > 1e-2


def test_position_tables_per_member_equal_separate_runs(agent):
    pol, params = agent
    tables = shuffled_position_tables(pol, 2, seed=1)
    assert tables.shape == (2, 16, 8)
    base = pol.positions.numpy()
    for t in tables:  # rows permuted, not identical
        assert not np.array_equal(t, base)
        assert np.array_equal(np.sort(t, axis=0), np.sort(base, axis=0))
    both = rollout(with_positions(pol, tables), np.stack([params, params]), 6, **KW).returns
    for i in range(2):
        alone = rollout(with_positions(pol, tables[i]), params, 6, **KW).returns
        np.testing.assert_allclose(both[i], alone[0], atol=1e-3)
    assert np.array_equal(pol.positions.numpy(), base)  # the original is untouched
    rnd = random_position_tables(pol, 3, seed=0)
    assert rnd.shape == (3, 16, 8)
    assert np.sqrt((rnd**2).mean()) == pytest.approx(np.sqrt((base**2).mean()), rel=0.2)
    with pytest.raises(ValueError):
        with_positions(pol, np.zeros((16, 7)))


# ------------------------------------------------------------------- helpers


def test_every_step_reshuffles_are_chunked_without_blowing_up_memory(agent):
    pol, params = agent
    conds = [Condition("every_1", PermutationSchedule.every(1)),
             Condition("every_50", PermutationSchedule.every(50))]  # fmt: skip
    # a tiny memory budget forces one condition per rollout; results must not change
    from anpolicy.sim.schedules import ObservationChannels
    from anpolicy.study.experiments import _chunks

    chunks = _chunks(conds, 8, ObservationChannels(), 200, 10_000, max_perm_bytes=8 * 200 * 5 * 8)
    assert [len(c) for c in chunks] == [1, 1]
    merged = run_conditions(pol, params, conds, 8, **KW)
    for c in conds:
        alone = rollout(pol, params, 8, schedule=c.schedule, **KW)
        np.testing.assert_allclose(merged[c.name].returns, alone.returns, atol=1e-3)


def test_paired_ratio_and_published_summary_and_schedule_permutations():
    from anpolicy.study.experiments import (
        TANG_HA_2021,
        paired_ratio,
        published_summary,
        schedule_permutations,
    )

    a, b = np.array([1.0, 2.0, 3.0, 6.0]), np.array([2.0, 4.0, 6.0, 12.0])
    r = paired_ratio(a, b)
    assert r["ratio"] == pytest.approx(0.5) and r["ci95"] == pytest.approx([0.5, 0.5])
    with pytest.raises(ValueError):
        paired_ratio(a, b[:3])
    s = published_summary(*TANG_HA_2021["an"]["none"])
    assert s["mean"] == 472 and s["se"] == pytest.approx(426 / np.sqrt(1000))
    perms = schedule_permutations(PermutationSchedule.every(100, True), 4, seed=2, max_steps=300)
    assert perms.shape == (4, 3, 5)
    assert (perms[:, 0] == np.arange(5)).all()
    assert (np.sort(perms, axis=-1) == np.arange(5)).all()
