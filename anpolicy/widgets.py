"""The explorer: run one episode of an Attention Neuron agent with your own permutation,
reshuffles and intervention, and look at its actions, rewards and attention.

    from anpolicy.widgets import Explorer
    Explorer().panel          # display in Jupyter

Every control re-runs the episode (about a second); the step slider only redraws. Bad
input (e.g. a permutation that is not one) is reported in the panel, never raised.
The pure functions `parse_permutation` and `explorer_schedule` are what the panel uses.
"""

from __future__ import annotations

import html
import re

import numpy as np

from anpolicy import physics
from anpolicy.interventions import make_interventions
from anpolicy.schedules import PermutationSchedule, validate_permutation

INTERVENTION_CHOICES = (
    ("none", "none"),
    ("zero h and c every step", "zero_hc"),
    ("zero c every step (the 2025 study's 'zero state')", "zero_c"),
    ("reset h and c at each reshuffle (study)", "reset_at_reshuffle"),
    ("permute state at reshuffle, relative (correct)", "permute_relative"),
    ("permute state at reshuffle, absolute (the study's)", "permute_absolute"),
)
RESHUFFLE_CHOICES = (("never", "none"), ("every k steps", "every"), ("once, at step k", "at"))
STATIC_NOTE = (
    "In the static book this panel shows its saved default state; changing the "
    "controls needs a live kernel (open the notebook in Jupyter)."
)


def parse_permutation(text: str, n: int = physics.OBS_DIM) -> np.ndarray:
    """Parse '3, 0, 4, 1, 2' (commas and/or spaces, optional brackets) into a permutation
    of range(n); ValueError with a readable message otherwise."""
    body = text.strip().strip("[]()").strip()
    if not body:
        raise ValueError(f"enter a permutation of 0..{n - 1}, e.g. {', '.join(map(str, range(n)))}")
    tokens = [t for t in re.split(r"[,\s]+", body) if t]
    try:
        values = [int(t) for t in tokens]
    except ValueError:
        raise ValueError(f"{text!r}: use whole numbers separated by commas") from None
    return validate_permutation(values, n)


def explorer_schedule(first_perm, mode: str, k: int, seed: int, max_steps: int = physics.MAX_STEPS):
    """The schedule the explorer runs: ``first_perm`` from step 0, then random
    permutations (drawn from ``seed``) at every change step of ``mode``:
    ``"none"`` (no change), ``"every"`` (k, 2k, ...) or ``"at"`` (step k only)."""
    if mode == "none":
        return PermutationSchedule.given([first_perm])
    if mode not in ("every", "at"):
        raise ValueError(f"unknown reshuffle mode {mode!r}")
    if not 1 <= int(k) < max_steps:
        raise ValueError(f"k must be between 1 and {max_steps - 1}, got {k}")
    steps = list(range(k, max_steps, k)) if mode == "every" else [int(k)]
    rng = np.random.default_rng([int(seed), 7])
    perms = [list(first_perm)] + [rng.permutation(len(first_perm)).tolist() for _ in steps]
    return PermutationSchedule.given(perms, steps)


def run_explorer_episode(
    policy, params, first_perm, mode, k, intervention, seed, episode, record: bool = True
):
    """Run one episode; returns ``(trace, return, length, change_steps)`` (``trace`` is
    None unless ``record``).

    The start state is episode ``episode`` of ``seed`` (the same start as in the
    chapters' evaluations with that seed)."""
    from anpolicy.rollout import episode_randomness, rollout

    schedule = explorer_schedule(first_perm, mode, k, seed)
    starts, _, _, _ = episode_randomness(
        int(seed), int(episode) + 1, PermutationSchedule.none(), physics.OBS_DIM, physics.MAX_STEPS
    )
    res = rollout(
        policy,
        params,
        1,
        seed=int(seed),
        schedule=schedule,
        interventions=make_interventions(intervention),
        record_episodes=[0] if record else None,
        start_states=starts[int(episode) : int(episode) + 1],
    )
    return (
        res.traces[(0, 0)] if record else None,
        float(res.returns[0, 0]),
        int(res.lengths[0, 0]),
        schedule.change_steps().tolist(),
    )


class Explorer:
    """An ipywidgets panel around `run_explorer_episode` (see the module docstring).

    ``policy``/``params`` default to the shipped agent ``agent``; the other arguments
    are the controls' initial values (``reshuffle`` in none/every/at, ``intervention`` a
    name of `anpolicy.interventions.INTERVENTIONS` offered in ``INTERVENTION_CHOICES``).
    ``panel`` is the widget to display; ``status`` shows the outcome or the error;
    ``output`` holds the figure.
    """

    def __init__(
        self,
        policy=None,
        params=None,
        agent: str = "attention_neuron",
        seed: int = 0,
        episode: int = 0,
        permutation: str = "0, 1, 2, 3, 4",
        reshuffle: str = "none",
        k: int = 200,
        intervention: str = "none",
        step: int = 0,
        max_episode: int = 999,
    ):
        import ipywidgets as w

        if policy is None:
            from anpolicy.data import load_shipped

            policy, params, _ = load_shipped(agent)
        if not getattr(policy, "has_lstm_state", False):
            raise ValueError("the explorer needs an Attention Neuron agent (LSTM state)")
        self.policy, self.params, self.agent = policy, params, agent
        layout = w.Layout(width="330px")
        style = {"description_width": "110px"}
        self.perm_text = w.Text(
            value=permutation, description="permutation", layout=layout, style=style
        )
        self.random_button = w.Button(description="draw random", icon="random")
        self.mode = w.Dropdown(
            options=RESHUFFLE_CHOICES,
            value=reshuffle,
            description="reshuffle",
            layout=layout,
            style=style,
        )
        self.k = w.BoundedIntText(
            value=k,
            min=1,
            max=physics.MAX_STEPS - 1,
            description="k (steps)",
            layout=layout,
            style=style,
        )
        self.intervention = w.Dropdown(
            options=INTERVENTION_CHOICES,
            value=intervention,
            description="intervention",
            layout=w.Layout(width="470px"),
            style=style,
        )
        self.seed = w.BoundedIntText(
            value=seed, min=0, max=10**9, description="seed", layout=layout, style=style
        )
        self.episode = w.BoundedIntText(
            value=episode, min=0, max=max_episode, description="episode", layout=layout, style=style
        )
        self.step = w.IntSlider(
            value=step,
            min=0,
            max=physics.MAX_STEPS - 1,
            description="attention at step",
            continuous_update=False,
            layout=w.Layout(width="470px"),
            style=style,
        )
        self.status = w.HTML()
        self.output = w.Output()
        note = w.HTML(f"<small><i>{html.escape(STATIC_NOTE)}</i></small>")
        controls = w.VBox(
            [
                w.HBox([self.perm_text, self.random_button]),
                w.HBox([self.mode, self.k]),
                self.intervention,
                w.HBox([self.seed, self.episode]),
                self.step,
            ]
        )
        self.panel = w.VBox([note, controls, self.status, self.output])
        self._rng = np.random.default_rng(seed)
        self._result = None
        for widget in (
            self.perm_text,
            self.mode,
            self.k,
            self.intervention,
            self.seed,
            self.episode,
        ):
            widget.observe(self._on_config, names="value")
        self.step.observe(self._on_step, names="value")
        self.random_button.on_click(self._on_random)
        self.update()

    # ----------------------------------------------------------- callbacks
    def _on_config(self, change=None):
        self.update()

    def _on_step(self, change=None):
        self.redraw()

    def _on_random(self, button=None):
        self.perm_text.value = ", ".join(map(str, self._rng.permutation(physics.OBS_DIM)))

    def _error(self, message: str):
        self._result = None
        self.status.value = (
            f"<span style='color:#b00020'><b>Cannot run:</b> {html.escape(message)}</span>"
        )
        self.output.outputs = ()

    # ------------------------------------------------------------ actions
    def update(self):
        """Re-run the episode for the current controls, then redraw."""
        try:
            perm = parse_permutation(self.perm_text.value)
            self.k.disabled = self.mode.value == "none"
            self._result = run_explorer_episode(
                self.policy,
                self.params,
                perm,
                self.mode.value,
                int(self.k.value),
                self.intervention.value,
                int(self.seed.value),
                int(self.episode.value),
            )
        except ValueError as e:
            self._error(str(e))
            return
        trace, ret, length, changes = self._result
        if self.step.value > length - 1:
            self.step.value = length - 1  # triggers a redraw
        self.step.max = max(length - 1, 0)
        shown = [c for c in changes if c < length]
        self.status.value = (
            f"<b>{html.escape(self.agent)}</b>, seed {int(self.seed.value)}, episode "
            f"{int(self.episode.value)}: return <b>{ret:.1f}</b> over {length} steps"
            f"{' (left the track)' if length < physics.MAX_STEPS else ''}; "
            f"{len(shown)} reshuffle{'s' if len(shown) != 1 else ''}; intervention "
            f"<i>{html.escape(self.intervention.label)}</i>."
        )
        self.redraw()

    def figure(self):
        """The figure for the current result and step (None after an error)."""
        import matplotlib.pyplot as plt

        from anpolicy.plots import plot_attention, plot_episode_traces

        if self._result is None:
            return None
        trace, ret, length, changes = self._result
        t = min(int(self.step.value), length - 1)
        fig = plt.figure(figsize=(11, 4.2))
        grid = fig.add_gridspec(2, 2, width_ratios=[1.9, 1], hspace=0.1, wspace=0.25)
        ax_a = fig.add_subplot(grid[0, 0])
        ax_r = fig.add_subplot(grid[1, 0], sharex=ax_a)
        plot_episode_traces([ax_a, ax_r], trace, marks=[c for c in changes if c < length])
        for ax in (ax_a, ax_r):
            ax.axvline(t, color="C3", lw=1)
        ax_a.tick_params(labelbottom=False)
        ax_a.set_title(f"return {ret:.1f}; dashed: reshuffles; red: step {t}", fontsize=9)
        ax_att = fig.add_subplot(grid[:, 1])
        plot_attention(
            ax_att, trace["attention"][t], perm=trace["perm"][t], title=f"attention at step {t}"
        )
        return fig

    def redraw(self):
        """Replace the panel's figure (a PNG in the Output widget's state, so that the
        static page keeps it)."""
        import io

        import matplotlib.pyplot as plt
        from IPython.display import Image

        fig = self.figure()
        self.output.outputs = ()
        if fig is None:
            return
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
        plt.close(fig)
        self.output.append_display_data(Image(data=buf.getvalue(), format="png"))
