"""The simulator: what happens in one episode, and many episodes at once.

Holds the one set of CartPoleSwingUpHarder equations (`physics`), the Gymnasium env
(`env`), the policies (`policy`: batched torch; `fused`: the numba-compiled engine, its
kernels in `fused_kernels`; `reference`: one plain ``torch.nn`` Attention Neuron),
permutation schedules and extra observation channels (`schedules`), the episode plan
(`plan`: starts, permutations, noise seed, drawn once), hooks on the agent's state
(`interventions`), the batched rollout (`rollout`) and its Ray executor (`distributed`,
with `ray_cluster` and `ray_chunks`).

May import: `anpolicy.stats` and modules of this folder. Nothing from `store`,
`training`, `study` or `report`.
"""
