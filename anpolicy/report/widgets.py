"""The explorer: run one episode of an Attention Neuron agent with your own permutation,
reshuffles and intervention, and look at its actions, rewards and attention.

    from anpolicy.report.widgets import Explorer
    Explorer(episode=-1).show()   # in Jupyter: displays the panel, then runs the episode

Every control re-runs the episode (about a second on an idle core; a progress bar shows
the steps); the step slider and the attention view only redraw. Text boxes act on Enter
or when they lose focus. Bad input (e.g. a permutation that is not one) is reported in
the panel, never raised. Importing this module costs ipywidgets and numpy; PyTorch is
imported when the first episode runs. The computations are in `anpolicy.study.explorer_model`.

Live or saved: a static page (the built book) shows the state the panel had when the book
was executed. The panel finds out that it runs live from its frontend: a hidden ``Play``
widget, started by the kernel, ticks in the browser and sends its value back; only a
frontend connected to this kernel can do that. Until then the panel says nothing about
being live, and the "saved state" sentence is shown only on book pages (CSS on the
book's output container).
"""

from __future__ import annotations

import html
import time

import numpy as np

from anpolicy.report.explorer_controls import (
    INTERVENTION_CHOICES,
    LIVE_NOTE,
    MATHJAX2_SHIM,
    RESHUFFLE_CHOICES,
    STATIC_NOTE,
    VIEW_CHOICES,
    build_controls,
)
from anpolicy.sim import physics
from anpolicy.study.explorer_model import (
    SATURATED,
    attention_scores,
    explorer_schedule,
    first_full_episode,
    parse_permutation,
    run_explorer_episode,
    saturated_share,
)

__all__ = [
    "INTERVENTION_CHOICES",
    "LIVE_NOTE",
    "MATHJAX2_SHIM",
    "RESHUFFLE_CHOICES",
    "STATIC_NOTE",
    "VIEW_CHOICES",
    "Explorer",
    "explorer_schedule",
    "parse_permutation",
    "run_explorer_episode",
]

_ERROR = "<span style='color:#b00020'><b>Cannot run:</b> {}</span>"
_PROGRESS_EVERY = 50  # steps between progress updates (20 messages per episode)


class Explorer:
    """An ipywidgets panel around `run_explorer_episode` (see the module docstring).

    ``policy``/``params`` default to the shipped agent ``agent`` (loaded by `start`); the
    other arguments are the controls' initial values (``reshuffle`` in none/every/at,
    ``intervention`` a name offered in ``INTERVENTION_CHOICES``). ``episode=-1`` picks the
    default episode under these initial settings: the first of ``seed`` that stays on the
    track for all 1000 steps among the first ``default_tries``, else the longest of them
    (`anpolicy.study.explorer_model.first_full_episode`).

    ``panel`` is the widget to display; ``status`` shows the outcome or the error;
    ``caption`` says which agent and episode are shown and why; ``output`` holds the
    figure; ``live`` is True once a frontend has answered. ``run=True`` (default) runs
    the first episode in the constructor; `show` displays first, then runs.
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
        run: bool = True,
        default_tries: int = 16,
    ):
        if episode < -1 or episode > max_episode:
            raise ValueError(f"episode must be -1 (choose) or 0..{max_episode}, got {episode}")
        self.policy, self.params, self.agent = policy, params, agent
        self.live = False
        self.timings: dict[str, list[float]] = {}  # seconds per kind of update
        self._choose_episode = episode < 0
        self._default_tries = int(default_tries)
        self._default_note = ""
        c = build_controls(
            permutation, reshuffle, k, intervention, seed, episode, max_episode, step
        )
        self.perm_text = c.perm_text
        self.random_button = c.random_button
        self.mode = c.mode
        self.k = c.k
        self.intervention = c.intervention
        self.seed = c.seed
        self.episode = c.episode
        self.step = c.step
        self.view = c.view
        self.note = c.note
        self.caption = c.caption
        self.status = c.status
        self.progress = c.progress
        self.att_note = c.att_note
        self.output = c.output
        self._probe = c.probe
        self.panel = c.panel
        self._rng = np.random.default_rng(seed)
        self._result = None
        self._scores = None
        self._started = False
        for widget in (
            self.perm_text,
            self.mode,
            self.k,
            self.intervention,
            self.seed,
            self.episode,
        ):
            widget.observe(self._on_config, names="value")
        self.step.observe(self._on_redraw, names="value")
        self.view.observe(self._on_redraw, names="value")
        self.random_button.on_click(self._on_random)
        self._probe.observe(self._on_probe, names="value")
        if run:
            self.start()

    # ------------------------------------------------------------- start up
    def show(self):
        """Display the panel now, then load the agent and run the first episode (so that
        a notebook shows progress at once)."""
        from IPython.display import display

        display(self.panel)
        self.start()

    def start(self):
        """Load the agent (if not given), choose the default episode (if asked), run it."""
        if self._started:
            return
        self._started = True
        t0 = time.perf_counter()
        if self.policy is None:
            self._stage("loading the agent (the first run also imports PyTorch)")
            from anpolicy.store.data import load_shipped

            self.policy, self.params, _ = load_shipped(self.agent)
        if not getattr(self.policy, "has_lstm_state", False):
            self._started = False
            raise ValueError("the explorer needs an Attention Neuron agent (LSTM state)")
        if self._choose_episode:
            self._pick_default_episode()
        else:
            self.update()
        self._timed("start", t0)
        self._arm_probe()

    def _pick_default_episode(self):
        seed = int(self.seed.value)
        self.k.disabled = self.mode.value == "none"
        try:
            perm = parse_permutation(self.perm_text.value)
        except ValueError as e:
            self._error(str(e))
            return

        def run(e):
            self._stage(f"choosing the default episode: trying episode {e} of seed {seed}")
            return self._run(perm, e)

        e, res, tried, full = first_full_episode(run, self._default_tries)
        if full:
            self._default_note = (
                f"Default episode {e} of seed {seed}: the first episode of this seed that "
                f"stays on the track for all {physics.MAX_STEPS} steps under the panel's "
                f"initial settings"
                + (f" (episodes 0-{e - 1} left the track earlier)." if e else ".")
            )
        else:
            self._default_note = (
                f"Default episode {e} of seed {seed}: none of episodes 0-{tried - 1} stays on "
                f"the track for all {physics.MAX_STEPS} steps under the panel's initial "
                f"settings; this one lasts longest ({res.length} steps)."
            )
        self._silent = True
        try:
            self.episode.value = e
        finally:
            self._silent = False
        self._show_result(res)

    _silent = False

    # ----------------------------------------------------------- callbacks
    def _on_config(self, change=None):
        if self._silent or not self._started:
            return
        t0 = time.perf_counter()
        self._guard(self.update)
        self._timed("episode", t0)

    def _on_redraw(self, change=None):
        if self._silent or not self._started:
            return
        t0 = time.perf_counter()
        self._guard(self.redraw)
        self._timed("redraw", t0)

    def _on_random(self, button=None):
        self.perm_text.value = ", ".join(map(str, self._rng.permutation(physics.OBS_DIM)))

    def _on_probe(self, change=None):
        if self.live or change is None or change["new"] == 0:
            return
        self.live = True
        self._probe.playing = False
        self.note.value = f"<small><i>{html.escape(LIVE_NOTE)}</i></small>"

    def _arm_probe(self):
        """(Re)start the probe: a frontend animates it only on a change to playing."""
        if not self.live:
            self._probe.playing = False
            self._probe.playing = True

    def _guard(self, action):
        try:
            action()
        except ValueError as e:
            self._error(str(e))
        except Exception as e:  # a bug, not bad input: say so, keep the kernel alive
            self._error(f"unexpected {type(e).__name__}: {e}")
        finally:
            self.progress.layout.display = "none"

    def _timed(self, what: str, t0: float):
        self.timings.setdefault(what, []).append(time.perf_counter() - t0)

    def _stage(self, text: str):
        self.status.value = f"<i>{html.escape(text)} …</i>"

    def _error(self, message: str):
        self._result = None
        self._scores = None
        self.status.value = _ERROR.format(html.escape(message))
        self.att_note.value = ""
        self.output.outputs = ()

    # ------------------------------------------------------------ actions
    def _run(self, perm, episode):
        seed, total = int(self.seed.value), physics.MAX_STEPS
        label = f"running episode {int(episode)} of seed {seed}"
        self.progress.value = 0
        self.progress.layout.display = None
        self.status.value = f"<i>{html.escape(label)}: step 0 of {total} …</i>"

        def on_step(t):
            self.progress.value = t
            self.status.value = f"<i>{html.escape(label)}: step {t} of {total} …</i>"

        try:
            return run_explorer_episode(
                self.policy,
                self.params,
                perm,
                self.mode.value,
                int(self.k.value),
                self.intervention.value,
                seed,
                int(episode),
                on_step=on_step,
                every=_PROGRESS_EVERY,
            )
        finally:
            self.progress.layout.display = "none"

    def update(self):
        """Re-run the episode for the current controls, then redraw."""
        self.k.disabled = self.mode.value == "none"
        try:
            perm = parse_permutation(self.perm_text.value)
            res = self._run(perm, int(self.episode.value))
        except ValueError as e:
            self._error(str(e))
            return
        self._show_result(res)

    def _show_result(self, res):
        self._result = res
        trace, ret, length, changes = res
        self._scores = None
        self._silent = True
        try:
            self.step.max = max(length - 1, 0)
            if self.step.value > length - 1:
                self.step.value = length - 1
        finally:
            self._silent = False
        shown = [c for c in changes if c < length]
        end = (
            f"left the track after {length} steps"
            if length < physics.MAX_STEPS
            else f"stayed on the track for all {length} steps"
        )
        self.caption.value = (
            f"<b>{html.escape(self.agent)}</b>, seed {int(self.seed.value)}, episode "
            f"{int(self.episode.value)}."
            + (f" <small>{html.escape(self._default_note)}</small>" if self._default_note else "")
        )
        self.status.value = (
            f"Episode return <b>{ret:.1f}</b>; the cart {end}; {len(shown)} "
            f"reshuffle{'s' if len(shown) != 1 else ''}; intervention "
            f"<i>{html.escape(self.intervention.label)}</i>."
        )
        self.redraw()

    def saturation(self) -> tuple[float, float] | None:
        """Share of saturated attention entries (|A| > 0.99) at the shown step and over the
        episode, each in 0..1; None after an error."""
        if self._result is None:
            return None
        att = self._result.trace["attention"]
        t = min(int(self.step.value), self._result.length - 1)
        return saturated_share(att[t]), saturated_share(att)

    def scores(self) -> np.ndarray | None:
        """Pre-tanh scores Q K^T of the current episode (T, 16, 5), computed once."""
        if self._result is None:
            return None
        if self._scores is None:
            self._scores = attention_scores(self.policy, self.params, self._result.trace["h"])
        return self._scores

    def figure(self):
        """The figure for the current result, step and view (None after an error)."""
        from anpolicy.report.episode_plots import explorer_figure

        if self._result is None:
            return None
        trace, ret, length, changes = self._result
        t = min(int(self.step.value), length - 1)
        if self.view.value == "scores":
            return explorer_figure(trace, ret, length, changes, t, scores=self.scores())
        return explorer_figure(trace, ret, length, changes, t, saturated=self.saturation()[0])

    def redraw(self):
        """Replace the panel's figure (a PNG in the Output widget's state, so that the
        static page keeps it) and the saturation note."""
        import io

        import matplotlib.pyplot as plt
        from IPython.display import Image

        fig = self.figure()
        self.output.outputs = ()
        if fig is None:
            self.att_note.value = ""
            return
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
        plt.close(fig)
        self.output.append_display_data(Image(data=buf.getvalue(), format="png"))
        now, overall = self.saturation()
        t = min(int(self.step.value), self._result.length - 1)
        self.att_note.value = (
            f"<small><b>Saturation.</b> {now:.0%} of the attention entries at step {t} and "
            f"{overall:.0%} over the episode have |A| &gt; {SATURATED}: A = tanh(Q Kᵀ) is "
            "then pinned at ±1 (a solid red or blue block is this, not a drawing error), "
            "and a change of the state moves A only where the scores Q Kᵀ are near zero. "
            "Choose <i>scores Q Kᵀ</i> above to see the scores under the saturation.</small>"
        )
