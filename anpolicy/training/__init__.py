"""Making agents: evolution strategies, the trainer, distillation, simulator gradients.

Holds CMA-ES / IPOP-CMA-ES / PGPE (`es`), the resumable trainer (`train`; a generation's
inputs in `generation`, a run's files in `run_files`), DAgger distillation (`distill`),
fine-tuning by backpropagation through the simulator (`apg`), the engine benchmark
(`bench`) and the command line's view of the run configs (`config_help`, read from
source without importing torch).

May import: `anpolicy.stats`, `anpolicy.sim`, `anpolicy.store` and modules of this
folder.
"""
