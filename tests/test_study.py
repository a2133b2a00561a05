"""Two-agent studies: typed results (schema), the verdict table, the recovery measure
and its control, the float64 invariance check."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from anpolicy.sim.policy import AttentionNeuronPolicy
from anpolicy.store import authors
from anpolicy.study import chapters as study
from anpolicy.study import verdicts


@pytest.fixture(scope="module")
def agents():
    """Two random Attention Neurons standing in for the two agents (fast, no files)."""
    rng = np.random.default_rng(0)
    pol = AttentionNeuronPolicy()
    par = {k: (0.5 * rng.standard_normal(pol.n_params)).astype(np.float32)
           for k in ("authors", "ours")}  # fmt: skip
    return study.StudyAgents({k: pol for k in par}, par, {k: k for k in par})


@pytest.fixture(scope="module")
def results(agents, tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    out = {
        "permutations": study.permutations_study(agents, 6, 8, recovery_t0=300, fnn=None),
        "ablations": study.ablations_study(agents, 6, 4, ks=[143, 167, 200, 250, 333, 500]),
        "attention": study.attention_study(agents, 6, t_shuffle=20, window=20),
        "noise": study.noise_study(agents, 6, noise_levels=(5,), n_stats_episodes=4),
    }
    for r in out.values():
        r.save(folder)
    return out, folder


def test_same_episodes_for_both_agents(agents):
    same = study.StudyAgents(
        {k: agents.policies["ours"] for k in agents.keys},
        {k: agents.params["ours"] for k in agents.keys},
        agents.names,
    )
    r = study.conformance_study(same, 8)
    a, b = r.agent("authors").shuffled, r.agent("ours").shuffled
    # Same params on the same episodes. The two agents are members 0 and 1 of one batch,
    # and a batched float32 kernel may round member 1's rows differently from member 0's
    # (seen on AMD EPYC: 1e-9 relative in the mean); other episodes would differ by tens.
    assert a["n"] == b["n"] == 8
    for key in ("mean", "sd", "se"):
        assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-6), key


def test_results_round_trip_and_schema_checks(results):
    out, folder = results
    for chapter, r in out.items():
        back = study.load_study(chapter, folder)
        assert back.to_dict() == json.loads(json.dumps(r.to_dict()))
        assert dataclasses.is_dataclass(back.agent("authors"))
    path = folder / "permutations.study.json"
    d = json.loads(path.read_text())
    d["per_agent"]["ours"]["recovery_renamed"] = d["per_agent"]["ours"].pop("recovery")
    with pytest.raises(study.ResultSchemaError, match="recovery"):
        study.StudyResult.from_dict(d)
    d = json.loads(path.read_text())
    del d["seed"]
    with pytest.raises(study.ResultSchemaError, match="seed"):
        study.StudyResult.from_dict(d)
    d = json.loads(path.read_text())
    d["schema_version"] = 0
    with pytest.raises(study.ResultSchemaError, match="schema version"):
        study.StudyResult.from_dict(d)


def test_verdict_table_has_both_agents(results):
    out, _ = results
    vs = verdicts.build_verdicts(out)
    assert len({v.key for v in vs}) == len(vs)
    for v in vs:
        assert set(v.by_agent) == {"authors", "ours"}
        assert v.by_agent["ours"].verdict in verdicts.VERDICTS
        eligible = out["permutations"].agent("authors").recovery["n_eligible"]
        if v.key == "single_reshuffle" and not eligible:  # random agents rarely balance
            assert "no episode ran past" in v.by_agent["authors"].measured
        elif v.key != "fnn_shuffled":
            assert v.by_agent["authors"].verdict != "not measured", v.key
            assert v.verdict == v.by_agent["authors"].verdict  # the headline
            assert v.agrees in ("yes", "no")
    from html import escape

    from anpolicy.report.tables import verdict_table_html

    table = verdict_table_html(vs)
    assert table.count("<tr>") == len(vs) + 1 and all(escape(v.claim) in table for v in vs)


def test_missing_authors_column_names_the_command(results):
    out, _ = results
    gone = {}
    for ch, r in out.items():
        d = r.to_dict()
        d["per_agent"]["authors"] = None
        d["authors_missing"] = f"the authors' weights are missing: run `{authors.COMMAND}`"
        gone[ch] = study.StudyResult.from_dict(d)
    for v in verdicts.build_verdicts(gone):
        if v.key == "fnn_shuffled":
            continue
        a = v.by_agent["authors"]
        assert a.verdict == "not measured" and authors.COMMAND in a.measured
        assert v.agrees == "—" and v.verdict == "not measured"
    assert "MISSING" in study.agents_notice(gone["noise"])


def test_no_results_at_all_say_not_measured():
    def loader(chapter):
        raise FileNotFoundError(chapter)

    res, missing = verdicts.load_all(loader=loader)
    assert res == {} and set(missing) == set(verdicts.CHAPTERS)
    for v in verdicts.build_verdicts(res):
        assert v.verdict == "not measured"
        assert f"run book/{v.chapter}.ipynb" in v.by_agent["ours"].measured


def test_renamed_field_fails_the_verdicts_loudly(results):
    out, _ = results
    d = out["ablations"].to_dict()
    d["per_agent"]["ours"]["reset_vs_nothing"] = {}  # a key the verdicts need is gone
    broken = {**out, "ablations": study.StudyResult.from_dict(d)}
    with pytest.raises(ValueError):
        verdicts.build_verdicts(broken)


def test_twin_recovery_and_a_control_that_can_fail():
    t = np.full((3, 100), 1.0)
    ref = t.copy()
    cond = t.copy()
    cond[0, 20:30] = 0.0  # dips and comes back: recovers at step 30
    cond[1, 20:] = np.nan  # ends early while the twin keeps going: never
    tau = study.twin_recovery_times(cond, ref, 10, tol=0.1, hold=20)
    assert tau[0] == 20 and np.isinf(tau[1]) and tau[2] == 0
    # a control is measured the same way: when it drifts from its twin, it fails too
    drift = ref.copy()
    drift[:, 10:] -= np.linspace(0, 0.5, 90)
    assert np.isinf(study.twin_recovery_times(drift, ref, 10, tol=0.1, hold=20)).all()
    both_end = ref.copy()
    both_end[:, 50:] = np.nan
    assert (study.twin_recovery_times(both_end, both_end.copy(), 10) == 0).all()


def test_identity_reshuffle_control_is_undisturbed(results):
    out, _ = results
    for key in ("authors", "ours"):
        rv = out["permutations"].agent(key).recovery
        assert rv["identity"]["n_never"] == 0 and rv["identity"]["undisturbed_frac"] in (1.0, None)


def test_float64_invariance_is_exact_where_float32_is_not(agents):
    from anpolicy.study import streams

    pol, par = agents.policies["ours"], agents.params["ours"]
    x = streams.random_stream(60, 6, seed=1)
    r = streams.invariance_float64(pol, par, x, 30, seed=0)
    assert r["a_fixed"] < 1e-10 and r["b_relative"] < 1e-10 and r["d_zero_state"] < 1e-10
    assert 0 < r["first_step_f32"] < 1e-5
    # the float64 path is a real check: it sees a reshuffle without the state move
    a64, _ = streams.run_stream64(pol, par, x)
    p = streams.random_permutations(6, seed=3)
    perms = np.stack([np.tile(np.arange(5), (6, 1)), p.numpy()])
    b64, _ = streams.run_stream64(pol, par, x, perms, 30, relative=False)
    assert np.abs(a64 - b64)[30:].max() > 1e-3
