"""The architecture chapter's observation streams (anpolicy.study.streams): the one-step
explanation, the invariance properties and what breaks them, closed-loop streams."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from anpolicy.sim.interventions import PermuteStateAtReshuffle, ZeroStateEveryStep  # noqa: E402
from anpolicy.sim.policy import FNNPolicy  # noqa: E402
from anpolicy.sim.rollout import rollout  # noqa: E402
from anpolicy.sim.schedules import PermutationSchedule  # noqa: E402
from anpolicy.study.streams import (  # noqa: E402
    closed_loop_stream,
    explain_step,
    invariance_properties,
    random_permutations,
    random_stream,
    run_stream,
)


def test_run_stream_equals_a_manual_loop_of_policy_step(an):
    pol, params = an
    x = random_stream(30, 3, seed=1)
    perm = random_permutations(3, seed=2)
    run = run_stream(pol, params, x, perms=perm)
    w = pol.prepare(params)
    state = pol.initial_state(1, 3, 5)
    for t in range(30):
        obs = torch.gather(x[t], -1, perm)[None]
        a, state, att = pol.step(w, obs, state)
        assert np.array_equal(run.actions[t], a.numpy())
        assert np.array_equal(run.attention[t], att.numpy())
    assert np.array_equal(run.h[-1], state["h"].numpy())


def test_run_stream_reproduces_a_closed_loop_rollout_with_reshuffles_and_hooks(an):
    pol, params = an
    p0, p1 = [3, 0, 4, 1, 2], [1, 2, 0, 4, 3]
    schedule = PermutationSchedule.given([p0, p1], steps=[40])
    hook = [PermuteStateAtReshuffle("absolute")]
    res = rollout(
        pol,
        params,
        1,
        seed=4,
        schedule=schedule,
        interventions=hook,
        record_episodes=[0],
        max_steps=120,
    )
    tr = res.traces[(0, 0)]
    phys = np.empty_like(tr["obs"])
    np.put_along_axis(phys, tr["perm"], tr["obs"], axis=1)  # undo the permutation
    run = run_stream(
        pol,
        params,
        phys[:, None],
        perms=[p0, p1],
        change_steps=[40],
        interventions=[PermuteStateAtReshuffle("absolute")],
    )
    assert np.array_equal(run.actions[:, 0, 0], tr["action"])
    assert np.array_equal(run.perm[:, 0], tr["perm"])


def test_run_stream_rejects_bad_input(an):
    pol, params = an
    x = random_stream(5, 2)
    with pytest.raises(ValueError, match="permutation"):
        run_stream(pol, params, x, perms=[0, 1, 1, 3, 4])
    with pytest.raises(ValueError):
        run_stream(pol, params, x, perms=[[0, 1, 2, 3, 4]] * 3, change_steps=[2])
    with pytest.raises(ValueError):
        run_stream(pol, params, x[0])
    with pytest.raises(ValueError):
        run_stream(pol, params, x, change_steps=[0])


def test_explain_step_matches_the_batched_policy(an):
    pol, params = an
    o = np.random.default_rng(3).standard_normal(5).astype(np.float32)
    parts = explain_step(pol, params, o, prev_action=-0.4)
    state = pol.initial_state(1, 1, 5)
    state["prev_action"] = torch.full((1, 1), -0.4)
    a, new, att = pol.step(pol.prepare(params), torch.as_tensor(o)[None, None], state)
    assert parts["A"].shape == (16, 5) and parts["K"].shape == (5, 32)
    assert parts["Q"].shape == (16, 32) and parts["m"].shape == (16,)
    assert abs(parts["action"][0] - float(a)) < 1e-5
    assert np.abs(parts["h"] - new["h"][0, 0].numpy()).max() < 1e-5
    assert np.abs(parts["A"] - att[0, 0].numpy()).max() < 1e-5


def test_invariance_properties_on_random_parameters(an):
    pol, params = an
    r = invariance_properties(pol, params, n_steps=60, n_streams=6, reshuffle_step=30)
    for key in ("a_fixed", "b_relative", "d_zero_state"):
        assert r[key]["max_abs_diff"] < 1e-4, key
    assert r["c_no_intervention"]["before"] < 1e-4
    assert r["c_no_intervention"]["max_abs_diff"] > 1e-2
    e = r["e_absolute"]
    assert e["p1_identity"][0] and e["max_abs_diff_identity"] == 0.0
    assert e["max_state_diff_identity"] == 0.0
    assert e["min_state_diff_non_identity"] > 1e-3
    assert e["max_abs_diff"] > 1e-2


def test_invariance_properties_would_catch_a_broken_state_permutation(an, monkeypatch):
    """If the relative permutation were the absolute one, property (b) must fail."""
    pol, params = an
    import anpolicy.sim.interventions as iv

    monkeypatch.setattr(iv, "relative_permutation", lambda old, new: new)
    r = invariance_properties(pol, params, n_steps=60, n_streams=6, reshuffle_step=30)
    assert r["b_relative"]["max_abs_diff"] > 1e-2


def test_zeroed_state_makes_attention_columns_follow_the_observation(an):
    pol, params = an
    x = random_stream(20, 2, seed=5)
    perm = torch.tensor([[4, 3, 2, 1, 0], [1, 0, 3, 2, 4]])
    zero = [ZeroStateEveryStep(("h", "c"))]
    base = run_stream(pol, params, x, interventions=zero)
    moved = run_stream(pol, params, x, perms=perm, interventions=zero)
    for r in range(2):
        assert np.allclose(
            moved.attention[:, 0, r], base.attention[:, 0, r][..., perm[r]], atol=1e-5
        )


def test_fnn_is_not_permutation_invariant():
    fnn = FNNPolicy()
    params = (0.5 * np.random.default_rng(1).standard_normal(fnn.n_params)).astype(np.float32)
    x = random_stream(10, 1, seed=1)
    a = run_stream(fnn, params, x).actions
    b = run_stream(fnn, params, x, perms=[4, 3, 2, 1, 0]).actions
    assert np.abs(a - b).max() > 1e-2


def test_closed_loop_stream_keeps_only_surviving_episodes(an):
    pol, params = an
    x, keep = closed_loop_stream(pol, params, 12, 40, seed=2)
    res = rollout(pol, params, 12, seed=2, max_steps=40)
    assert keep.tolist() == np.flatnonzero(res.lengths[0] >= 40).tolist()
    assert x.shape == (40, len(keep), 5) and not torch.isnan(x).any()
    assert len(keep) >= 1, "no episode survived 40 steps: the stream check below needs one"
    # the stream reproduces the episode's actions
    run = run_stream(pol, params, x[:, :1])
    rec = rollout(
        pol, params, int(keep[0]) + 1, seed=2, max_steps=40, record_episodes=[int(keep[0])]
    )
    # (batch sizes differ, so float32 sums may round differently)
    assert np.allclose(run.actions[:, 0, 0], rec.traces[(0, int(keep[0]))]["action"], atol=1e-5)
