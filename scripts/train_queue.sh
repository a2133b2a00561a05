#!/usr/bin/env bash
# The training issue's runs, one after another at THREADS threads (default 1, so the
# machine stays usable): the authors' recipe over five seeds, then the FNN arm (PGPE from
# the shipped FNN), then the IPOP-CMA-ES arm within the authors' budget of 57.3 M
# episodes. Every run is resumable: run this script again and it skips finished runs
# (result.json present) and resumes the others from their checkpoints. SIGTERM stops the
# current run after its generation (it checkpoints) and ends the queue.
#   THREADS=1 nohup setsid bash scripts/train_queue.sh > runs_queue.log 2>&1 &
# A second lane, on the other core: the recipe with the step-size rule of pycma 3.0-4.4
# (CSA) to the authors' 14,000 generations (data/runs/recipe_csa_seed0):
#   RULE=csa SEEDS=0 GENERATIONS=14000 THREADS=1 nohup setsid \
#       bash scripts/train_recipe_seeds.sh > runs_csa.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-1}
PY=${PY:-.venv/bin/python}

bash scripts/train_recipe_seeds.sh || exit $?

run_arm() {  # run_dir, then the arm's options
    local run=$1
    shift
    [ -f "$run/result.json" ] && { echo "[queue] $run done"; return 0; }
    local args=("$@" --threads "$THREADS" --run-dir "$run")
    [ -f "$run/checkpoint.pkl" ] && args+=(--resume)
    echo "[queue] $run: ${args[*]}"
    "$PY" -m anpolicy train "${args[@]}"
}

an_sepcma() {  # run_dir, seed, init agent, then the arm's own options: separable CMA-ES
    # (CSA) fine-tunes of the Attention Neuron, trained shuffled at reset, 2,048 validation
    # episodes, a snapshot every 100 generations, a wall-clock budget (--minutes) of its own
    local run=$1 seed=$2 init=$3
    shift 3
    run_arm "$run" --policy attention_neuron --optimizer sepcma --seed "$seed" \
        --cma-step-rule csa --init-from "$init" --train-shuffle reset \
        --validate-episodes 2048 --generations 100000 --snapshot-every 100 "$@"
}

# FNN (5-16-16-1): PGPE from the FNN shipped before (now fnn_565: 603 on the test seed, 621
# on these 2,048 validation episodes), with twice the rollouts per member, a quarter of
# the centre's learning rate and a smaller stdev, 150 minutes. Finished: shipped as fnn.
run_arm data/runs/fnn_finetune_seed1 --policy fnn --optimizer pgpe --seed 1 \
    --init-from data/agents/fnn_565.npz --rollouts 32 --center-lr 0.01 --init-stdev 0.03 \
    --validate-episodes 2048 --minutes 150 --generations 100000 --snapshot-every 100 || exit $?

# IPOP-CMA-ES: restart from x0 = 0 with a doubled population once the step size falls
# below 5e-3 (the recipe's validation plateaus by sigma ~1e-2), within 57,344,000 episodes
run_arm data/runs/ipop_seed0 --policy attention_neuron --optimizer ipop --seed 0 \
    --restart-step-size 5e-3 --max-episodes 57344000 --generations 100000 \
    --snapshot-every 250 || exit $?

# PGPE fine-tune of the CSA recipe's final centre (shipped as attention_neuron when this
# arm began), trained the way the agent is tested (shuffled once at reset), with twice
# the rollouts per member, a small stdev and centre learning rate (the set-up that added
# +8 to the FNN) and 2,048 validation episodes so that selection is not on noise
run_arm data/runs/an_finetune_seed1 --policy attention_neuron --optimizer pgpe --seed 1 \
    --init-from data/runs/recipe_csa_seed0/agent.npz --train-shuffle reset \
    --rollouts 32 --center-lr 0.01 --init-stdev 0.03 --validate-episodes 2048 \
    --minutes 120 --generations 100000 --snapshot-every 100 || exit $?

# The same fine-tune with a less noisy fitness: 64 rollouts per member and half the
# population (the same 8,192 episodes per generation), 100 minutes
run_arm data/runs/an_finetune_r64_seed2 --policy attention_neuron --optimizer pgpe --seed 2 \
    --init-from data/runs/recipe_csa_seed0/agent.npz --train-shuffle reset --popsize 128 \
    --rollouts 64 --center-lr 0.01 --init-stdev 0.03 --validate-episodes 2048 \
    --minutes 100 --generations 100000 --snapshot-every 100 || exit $?

# Second fine-tune round, from the agent the first round shipped (attention_neuron since
# 2026-12-03, 407 on the test seed): the first round's validation went flat at about 410
# after +34 in 2,500 generations at lr 0.01, so half the centre's learning rate and a
# smaller stdev, 150 minutes. Stopped at generation 196 and finished there (2026-12-03):
# its validation never passed its start's (selected generation 0, test 407.0)
run_arm data/runs/an_finetune2_seed3 --policy attention_neuron --optimizer pgpe --seed 3 \
    --init-from data/runs/an_finetune_seed1/agent.npz --train-shuffle reset \
    --rollouts 32 --center-lr 0.005 --init-stdev 0.02 --validate-episodes 2048 \
    --minutes 150 --generations 100000 --snapshot-every 100 || exit $?

# Another evolution strategy from the same start: separable CMA-ES with cumulative step-size
# adaptation (rank-based weights, a step size of its own), sigma0 0.02, 32 rollouts,
# trained shuffled at reset (planned 140 minutes; its budget was cut to 84 minutes, where
# it stood, when its validation had been flat at 445-451 for 1,000 generations while its
# step size grew from 0.019 to 0.025); and a second seed of it (100 minutes)
an_sepcma data/runs/an_sepcma_ft_seed4 4 data/runs/an_finetune_seed1/agent.npz \
    --sigma0 0.02 --rollouts 32 --minutes 84 || exit $?
an_sepcma data/runs/an_sepcma_ft_seed6 6 data/runs/an_finetune_seed1/agent.npz \
    --sigma0 0.02 --rollouts 32 --minutes 100 || exit $?

# The same separable CMA-ES with the upright-start curriculum: a quarter of each fitness's
# 32 episodes start with the pole up (physics.sample_upright_starts), because our agent
# loses its return by dropping the balanced pole (the training chapter's behaviour
# profile: 1.5 falls per full episode against 0.4 for Tang & Ha's); validation and test
# keep the task's starts. Stopped at generation 692 (validation 416-424 against 428-433 for
# the plain arm at the same generations) and finished there (selected generation 500,
# test 413.3 against the plain arm's 432.6-437.2)
an_sepcma data/runs/an_sepcma_upright_seed5 5 data/runs/an_finetune_seed1/agent.npz \
    --upright-starts 0.25 --sigma0 0.02 --rollouts 32 --minutes 150 || exit $?

# Separable CMA-ES continued from the plateau of an_sepcma_ft_seed4 with a less noisy
# fitness and a smaller step: 64 rollouts per member, sigma0 0.01, 50 minutes
an_sepcma data/runs/an_sepcma_r64_seed7 7 data/runs/an_sepcma_ft_seed4/agent.npz \
    --sigma0 0.01 --rollouts 64 --minutes 50 || exit $?

# The shipped arm continued (an_sepcma_ft_seed6 was still rising, about +6 validation per
# 1,000 generations, when its 100 minutes ended; its checkpoint was not kept, so the step
# size and the diagonal start afresh): separable CMA-ES from its agent (attention_neuron
# since 2026-12-03), 240 minutes. Stopped by SIGTERM at generation 8,626 (144 minutes) and
# finished there; shipped as attention_neuron (test 443.9, +11.6 paired over its start)
an_sepcma data/runs/an_sepcma_ft2_seed8 8 data/runs/an_sepcma_ft_seed6/agent.npz \
    --sigma0 0.02 --rollouts 32 --minutes 240 || exit $?

# The shipped arm's start again with twice the population and half the rollouts per member
# (the same 8,192 episodes per generation): does a larger population (finer ranking, more
# directions per update) beat a less noisy fitness per member? 240 minutes. Stopped by
# SIGTERM at generation 578 (validation 445-452, level with the continuation above at the
# same generations, at 2.2 s a generation against 1.8) and finished there (2026-12-03): no
# validation passed its start's, so it selected generation 0 (test 437.2, the start's)
an_sepcma data/runs/an_sepcma_p512_seed9 9 data/runs/an_sepcma_ft_seed6/agent.npz \
    --popsize 512 --sigma0 0.02 --rollouts 16 --minutes 240 || exit $?

# The shipped arm continued again (an_sepcma_ft2_seed8's step size had grown from 0.013 to
# 0.045 over its last 4,000 generations while its validation rose 455 -> 461: CSA saying
# the steps were too short), so sigma0 starts where it ended, 0.045; 150 minutes. Stopped at
# generation 1,067 and finished there (2026-12-03): 0.045 in every coordinate threw the
# centre off (463 -> 411 in 25 generations; its learned stdevs run 0.0009-0.050), it
# climbed back to 458 and never passed its start (selected generation 0)
an_sepcma data/runs/an_sepcma_ft3_seed11 11 data/runs/an_sepcma_ft2_seed8/agent.npz \
    --sigma0 0.045 --rollouts 32 --minutes 150 || exit $?

# The shipped agent continued with the per-parameter stdevs an_sepcma_ft3_seed11 learned
# near it (its sampling_state.npz; --init-stds-from), sigma0 its final step size, 120 min
an_sepcma data/runs/an_sepcma_stds_seed14 14 data/runs/an_sepcma_ft2_seed8/agent.npz \
    --init-stds-from data/runs/an_sepcma_ft3_seed11 --sigma0 0.0285 --rollouts 32 \
    --minutes 120 || exit $?

# Beside it, the same start with the previous run's sigma0 (0.02) and a less noisy fitness:
# 64 rollouts per member (16,384 episodes per generation), 145 minutes. Stopped at
# generation 775 (43 minutes) and finished there (2026-12-03): validation flat at 457-464,
# test 443.5 against its start's 443.9; not shipped
an_sepcma data/runs/an_sepcma_r64_seed12 12 data/runs/an_sepcma_ft2_seed8/agent.npz \
    --sigma0 0.02 --rollouts 64 --minutes 145 || exit $?

# FNN: separable CMA-ES (CSA) from the FNN of the PGPE arm above (shipped as fnn; its
# validation flat at 628-631 for its last 3,000 generations; test 611.6 against the target
# of 625), unshuffled as the FNN is tested, sigma0 0.02, 240 minutes. Stopped by SIGTERM at
# generation 2,587 (36 minutes) and finished there: validation flat at 628-631, test 612.6,
# paired with fnn +0.3 [-0.1, +0.8] on 20,000 episodes; not shipped
run_arm data/runs/fnn_sepcma_seed10 --policy fnn --optimizer sepcma --seed 10 \
    --cma-step-rule csa --init-from data/runs/fnn_finetune_seed1/agent.npz --sigma0 0.02 \
    --rollouts 32 --validate-episodes 2048 --generations 100000 --snapshot-every 100 \
    --minutes 240 || exit $?

# A new lineage: separable CMA-ES (CSA) from x0 = 0, otherwise the authors' recipe
# (population 256, 16 rollouts, sigma0 0.1, unshuffled, 512 validation episodes). Every
# agent above descends from one full-CMA-ES run (recipe_csa_seed0) and the shipped one's
# continuations are flat at ~460 validation; does another optimizer from scratch find a
# better basin, and how fast against the recipe's curve? 600 minutes over sessions
run_arm data/runs/sepcma_scratch_seed13 --policy attention_neuron --optimizer sepcma \
    --cma-step-rule csa --seed 13 --sigma0 0.1 --popsize 256 --rollouts 16 \
    --generations 100000 --snapshot-every 100 --minutes 600 || exit $?

# Fork of that lineage, shuffled at reset (2026-12-04): its best centre (snapshot at
# generation 8,000; trained unshuffled, as the authors) scores 467.6 [450.1, 485.1] on the
# fine-tunes' 2,048 validation episodes, where the shipped agent, selected on them, has
# 463.3 (paired +4.3 [-4.4, +12.9]). Separable CMA-ES trained shuffled at reset, 32
# rollouts, sampling with the lineage's stdevs at generation 8,652 (`python -m anpolicy
# sampling-state data/runs/sepcma_scratch_seed13` wrote the file; 0.00013-0.38, median
# 0.066, so one sigma0 everywhere would be far off), 150 minutes
an_sepcma data/runs/an_sepcma_scratch13_ft_seed16 16 \
    data/runs/sepcma_scratch_seed13/snapshots/gen_008000.npz \
    --init-stds-from data/runs/sepcma_scratch_seed13/sampling_state_gen008652.npz \
    --sigma0 0.1165 --rollouts 32 --minutes 150 || exit $?
# (Stopped at generation 4,588, 116 minutes, and finished there: best validation 492.8,
# test 480.0 [461.5, 498.4]; shipped as attention_neuron, 2026-12-04)

# Beside it, the same fork with another seed (the lineage's run paused with its
# checkpoint to give it the core): is what the fork gains the set-up or its seed? The
# set-up: the same curve as seed 16's; stopped at generation 1,216 (32 minutes) and
# finished there, best validation 480.3, test 471.0 [452.9, 489.1]; the core went back to
# sepcma_scratch_seed13
an_sepcma data/runs/an_sepcma_scratch13_ft_seed17 17 \
    data/runs/sepcma_scratch_seed13/snapshots/gen_008000.npz \
    --init-stds-from data/runs/sepcma_scratch_seed13/sampling_state_gen008652.npz \
    --sigma0 0.1165 --rollouts 32 --minutes 150 || exit $?

# The same lineage from x0 = 0 with another seed (is 442 validation by generation 8,000
# this recipe or one good seed?); started 2026-12-04 and stopped after 10 minutes to give
# its core to the fork above; not started in earnest yet. 600 minutes over sessions
run_arm data/runs/sepcma_scratch_seed15 --policy attention_neuron --optimizer sepcma \
    --cma-step-rule csa --seed 15 --sigma0 0.1 --popsize 256 --rollouts 16 \
    --generations 100000 --snapshot-every 100 --minutes 600 || exit $?

# The shipped fork continued (2026-12-04): its validation still rose by about +4 per 1,000
# generations when it stopped; the same set-up from its final centre, with its final
# per-parameter stdevs and step size (0.17), 150 minutes
an_sepcma data/runs/an_sepcma_ft16_cont_seed18 18 \
    data/runs/an_sepcma_scratch13_ft_seed16/agent.npz \
    --init-stds-from data/runs/an_sepcma_scratch13_ft_seed16 \
    --sigma0 0.17 --rollouts 32 --minutes 150 || exit $?
# (Stopped at generation 3,955, 99 minutes, and finished there: best validation 509.7,
# test 486.7 [467.9, 505.5]; paired +11.7 [+7.7, +15.7] on seed 3000021; shipped as
# attention_neuron, 2026-12-04)
