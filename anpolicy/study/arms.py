"""The training arms beyond the recipe (IPOP-CMA-ES, the CSA recipe to the authors'
budget, the FNN), in one sentence each, from their run folders.

`arms_summary` says in one sentence which finished Attention Neuron arm tests best and
where that sits against the paper's score, and which arms are still unfinished.
`arms_sentence` reads `anpolicy.study.recipe.summarize_runs` rows: how far each arm got
(generations, training episodes against the authors' budget, CPU-hours), its restarts and
population where it restarts, a CMA-ES arm's step size now (or at its end) and at its
largest (a step size that grows far past sigma0 = 0.1 is a search that has lost its way),
its best validation so far, and its test score with a 95 % CI once finished, or that it
is unfinished and resumable. `validation_protocol` states the runs' validation episodes.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePath

from anpolicy.study.published import EVOJAX_PGPE_MLP, TANG_HA_TRAINING

NAMES = {
    "ipop": "IPOP-CMA-ES",
    "cma": "CMA-ES",
    "sepcma": "separable CMA-ES",
    "pgpe": "PGPE",
}


def _method(row: dict) -> str:
    """'separable CMA-ES with CSA', 'PGPE', ...: an arm's optimizer in words."""
    name = NAMES.get(row["optimizer"], row["optimizer"])
    csa = row["optimizer"] in ("cma", "sepcma", "ipop") and row.get("step_rule", "pycma") == "csa"
    return name + " with CSA" * csa


def _start_words(init_from: str) -> str:
    """'fnn.npz' (a shipped agent), 'recipe_csa_seed0' (a run's agent.npz or best.npz),
    "sepcma_scratch_seed13's generation 8,000" (a run's snapshot, taken mid-run)."""
    from anpolicy.training.run_files import SNAPSHOT_DIR, generation_in_name

    src = PurePath(init_from)
    gen = generation_in_name(src)
    if src.parent.name == SNAPSHOT_DIR and gen is not None:
        return f"{src.parent.parent.name}'s generation {gen:,}"
    return src.name if src.parent.name in ("agents", "") else src.parent.name


def _stds_words(init_stds_from: str) -> str:
    """ "an_sepcma_ft3_seed11's final stdevs" (a run folder or its sampling_state.npz),
    "sepcma_scratch_seed13's stdevs at generation 8,652" (one written mid-run by
    ``python -m anpolicy sampling-state``, named by its generation)."""
    from anpolicy.training.run_files import SAMPLING_STATE_PREFIX, generation_in_name

    src = PurePath(init_stds_from)
    if src.suffix != ".npz":
        return f"{src.name}'s final stdevs"
    if src.stem.startswith(SAMPLING_STATE_PREFIX) and generation_in_name(src) is not None:
        return f"{src.parent.name}'s stdevs at generation {generation_in_name(src):,}"
    return f"{src.parent.name}'s final stdevs"


def arm_label(row: dict) -> str:
    """'IPOP-CMA-ES (ipop_seed0, seed 0)', 'CMA-ES with CSA (recipe_csa_seed0, seed 0)',
    'PGPE on the FNN from fnn.npz (fnn_finetune_seed1, seed 1)', 'PGPE from recipe_csa_seed0,
    trained shuffled at reset, population 256 × 32 rollouts (an_finetune_seed1, seed 1)',
    ...; the population and rollouts are named where they differ from the authors' 256 × 16,
    CMA-ES's sigma0 where it differs from their 0.1, and the run whose stdevs a run
    started with (``init_stds_from``); a start or stdevs taken mid-run name the generation."""
    name = _method(row)
    if row.get("policy") == "fnn":
        name += " on the FNN"
    if row.get("init_from"):
        name += f" from {_start_words(row['init_from'])}"
    shuffle = row.get("train_shuffle", "none")
    if shuffle != "none":
        name += ", trained shuffled at reset" if shuffle == "reset" else f", trained with {shuffle}"
    if row.get("upright_starts", 0.0) > 0:
        name += f", {row['upright_starts']:.0%} of training episodes starting upright"
    sigma0 = row.get("sigma0", TANG_HA_TRAINING["sigma0"])
    if row.get("init_stds_from"):  # sigma0 is then bookkeeping: the stdevs are that run's
        name += f", sampling with {_stds_words(row['init_stds_from'])}"
    elif row["optimizer"] in ("cma", "sepcma", "ipop") and sigma0 != TANG_HA_TRAINING["sigma0"]:
        name += f", σ0 = {sigma0:g}"
    authors = (TANG_HA_TRAINING["popsize"], TANG_HA_TRAINING["rollouts"])
    size = (row.get("popsize", authors[0]), row.get("rollouts", authors[1]))
    if size != authors:  # said only where an arm evaluates otherwise than the authors
        name += f", population {size[0]:,} × {size[1]} rollouts"
    return f"{name} ({row['run']}, seed {row['seed']})"


def arms_sentence(rows: list[dict], budget_m: float) -> str:
    """One sentence per arm; ``budget_m`` is the budget (the authors') in millions of
    episodes. Empty rows give a sentence that says no arm has a run folder yet."""
    if not rows:
        return "No arm has a run folder yet."
    out = []
    for r in rows:
        running = r["stop_reason"] == "running"
        txt = (
            f"{arm_label(r)}: {r['generations']:,} generations, {r['episodes_m']:.1f} M "
            f"episodes ({100 * r['episodes_m'] / budget_m:.0f} % of the budget), "
            f"{r['cpu_hours']:.1f} CPU-hours"
        )
        if r.get("restarts"):
            txt += f", {r['restarts']} restart{'s' * (r['restarts'] > 1)} "
            txt += f"({'population now' if running else 'final population'} "
            txt += f"{r['final_popsize']:,})"
        if r["optimizer"] in ("cma", "ipop", "sepcma"):
            txt += f", step size {r['final_step_size']:.2g} "
            txt += f"{'now' if running else 'at the end'}, at most "
            txt += f"{r['peak_step_size']:.2g} (generation {r['peak_step_generation']:,})"
        txt += f"; best validation {r['best_validation']:.0f} at generation "
        txt += f"{r['best_generation']:,}"
        if running:
            txt += "; unfinished (resumable)"
        else:
            txt += (
                f"; test {r['test_mean']:.0f} [{r['test_lo']:.0f}, {r['test_hi']:.0f}] "
                f"(n = {r['test_n']:,})"
            )
            if r.get("shipped_as"):
                txt += f", shipped as {r['shipped_as']}"
        out.append(txt + ".")
    return " ".join(out)


def arms_summary(rows: list[dict], target: float) -> str:
    """One sentence over the arms: the finished Attention Neuron arm with the highest test
    mean, its 95 % CI against ``target`` (the paper's shuffled test score), the finished FNN
    arm with the highest test mean, and the unfinished arms by run name."""
    from anpolicy.study.recipe import against_target

    if not rows:
        return "No arm has a run folder yet."
    done = [r for r in rows if r["stop_reason"] != "running"]
    an = [r for r in done if r.get("policy", "attention_neuron") == "attention_neuron"]
    parts = []
    if an:
        best = max(an, key=lambda r: r["test_mean"])
        where = against_target({"ci95": (best["test_lo"], best["test_hi"])}, target)
        parts.append(
            f"Of {len(an)} finished Attention Neuron arm{'s' * (len(an) > 1)}, the best, "
            f"{best['run']} ({_method(best)}), tests at {best['test_mean']:.0f} "
            f"[{best['test_lo']:.0f}, {best['test_hi']:.0f}], {where} the paper's {target:.0f}"
        )
    else:
        parts.append("No Attention Neuron arm has finished yet")
    fnn = [r for r in done if r.get("policy") == "fnn"]
    if fnn:
        best = max(fnn, key=lambda r: r["test_mean"])
        of = f"the best of {len(fnn)} finished FNN arms" if len(fnn) > 1 else "the FNN arm"
        parts.append(
            f"{of} ({best['run']}) tests at {best['test_mean']:.0f} "
            f"[{best['test_lo']:.0f}, {best['test_hi']:.0f}] unshuffled"
        )
    running = [r["run"] for r in rows if r["stop_reason"] == "running"]
    if running:
        parts.append(f"unfinished (resumable): {', '.join(running)}")
    return "; ".join(parts) + "."


def validation_protocol(run_dirs) -> str:
    """The runs' validation episodes in words, from their configs, grouped by count and
    seed: '512 held-out episodes, seed 1000001 (ipop_seed0, recipe_csa_seed0); 2,048,
    seed 1000001 (fnn_finetune_seed1)'. Folders without a config.json are skipped."""
    groups: dict[tuple[int, int], list[str]] = {}
    for d in map(Path, run_dirs):
        if (d / "config.json").is_file():
            cfg = json.loads((d / "config.json").read_text())
            key = (cfg["validate_episodes"], cfg["validate_seed"])
            groups.setdefault(key, []).append(d.name)
    parts = [
        f"{n:,}{' held-out episodes' * (i == 0)}, seed {seed} ({', '.join(names)})"
        for i, ((n, seed), names) in enumerate(groups.items())
    ]
    return "; ".join(parts) or "no run"


def large_sample_sentence(agent: str, large: dict, seed: int, shipped: dict) -> str:
    """How an agent scores on many fresh episodes against its manifest test and EvoJAX's
    PGPE MLP (`anpolicy.study.published.EVOJAX_PGPE_MLP`). ``large`` and ``shipped["test"]``
    are `anpolicy.stats.summarize` dicts (``mean``, ``ci95``, ``n``), ``seed`` the large
    sample's, ``shipped`` the agent's manifest entry (its ``test``)."""
    from anpolicy.stats import format_ci
    from anpolicy.study.recipe import against_target

    test = shipped["test"]
    half = (test["ci95"][1] - test["ci95"][0]) / 2
    return (
        f"On {large['n']:,} further episodes (seed {seed}) {agent} scores "
        f"{format_ci(large, '.1f')}, {against_target(large, EVOJAX_PGPE_MLP)} EvoJAX's PGPE "
        f"MLP ({EVOJAX_PGPE_MLP}); its manifest test, {format_ci(test, '.1f')} on "
        f"{test['n']:,} episodes, is one sample (±{half:.0f})."
    )


def standing_sentence(name: str, entry: dict, target: float) -> str:
    """Where a shipped agent's manifest test (``entry["test"]``: mean, ci95, n) stands
    against ``target`` (Tang & Ha's shuffled test score), in one short sentence; 'below'
    only when the whole 95 % CI is below it."""
    from anpolicy.stats import format_ci
    from anpolicy.study.recipe import against_target

    t = entry["test"]
    return (
        f"Our Attention Neuron ({name}) tests at {format_ci(t)} on {t['n']:,} episodes, "
        f"{against_target(t, target)} Tang & Ha's {target:.0f}."
    )
