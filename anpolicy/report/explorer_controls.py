"""The explorer's controls and texts (ipywidgets): the choices offered, the notes shown on
a live and on a saved panel, the panel's layout (`build_controls`), and the MathJax shim
the saved panel needs on the book's pages. The panel's behaviour is `anpolicy.report.widgets`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from anpolicy.sim import physics

INTERVENTION_CHOICES = (
    ("none", "none"),
    ("zero h and c every step", "zero_hc"),
    ("zero c every step (the 2025 study's 'zero state')", "zero_c"),
    ("reset h and c at each reshuffle (study)", "reset_at_reshuffle"),
    ("permute state at reshuffle, relative (correct)", "permute_relative"),
    ("permute state at reshuffle, absolute (the study's)", "permute_absolute"),
)
RESHUFFLE_CHOICES = (("never", "none"), ("every k steps", "every"), ("once, at step k", "at"))
VIEW_CHOICES = (("attention A = tanh(Q Kᵀ)", "attention"), ("scores Q Kᵀ (before tanh)", "scores"))
STATIC_NOTE = (
    "This is the panel's saved default state: the page cannot run Python, so the controls "
    "do nothing here. Open the notebook in JupyterLab (scripts/lab.sh) to play."
)
LIVE_NOTE = (
    "Live: this panel runs in your Python kernel. Each control re-runs the episode; "
    "text boxes act on Enter or when you leave them."
)
# Shown only inside a Jupyter Book page (myst-nb's output container), hidden elsewhere.
_STATIC_CSS = (
    "<style>.anp-static-note{display:none}"
    ".cell_output .anp-static-note{display:inline}"
    ".jp-OutputArea .anp-static-note{display:none!important}</style>"
)


def static_note_html() -> str:
    """The saved-state note, shown only on book pages (see `_STATIC_CSS`)."""
    return f"{_STATIC_CSS}<small><i class='anp-static-note'>{html.escape(STATIC_NOTE)}</i></small>"


@dataclass
class Controls:
    """The explorer's widgets (each tagged with a CSS class ``anp-<name>`` for styling and
    browser tests) and ``panel``, the box that holds them all."""

    perm_text: Any
    random_button: Any
    mode: Any
    k: Any
    intervention: Any
    seed: Any
    episode: Any
    step: Any
    view: Any
    note: Any
    caption: Any
    status: Any
    progress: Any
    att_note: Any
    output: Any
    probe: Any
    panel: Any


def build_controls(
    permutation: str,
    reshuffle: str,
    k: int,
    intervention: str,
    seed: int,
    episode: int,
    max_episode: int,
    step: int,
) -> Controls:
    """The explorer's widgets with these initial values, laid out in one panel. ``probe``
    is the hidden ``Play`` widget that tells a live frontend from a saved page."""
    import ipywidgets as w

    c = Controls(**dict.fromkeys(Controls.__dataclass_fields__))
    layout = w.Layout(width="330px")
    style = {"description_width": "110px"}
    c.perm_text = w.Text(
        value=permutation,
        description="permutation",
        continuous_update=False,
        layout=layout,
        style=style,
    )
    c.random_button = w.Button(description="draw random", icon="random")
    c.mode = w.Dropdown(
        options=RESHUFFLE_CHOICES,
        value=reshuffle,
        description="reshuffle",
        layout=layout,
        style=style,
    )
    c.k = w.BoundedIntText(
        value=k,
        min=1,
        max=physics.MAX_STEPS - 1,
        description="k (steps)",
        continuous_update=False,
        layout=layout,
        style=style,
    )
    c.intervention = w.Dropdown(
        options=INTERVENTION_CHOICES,
        value=intervention,
        description="intervention",
        layout=w.Layout(width="470px"),
        style=style,
    )
    c.seed = w.BoundedIntText(
        value=seed,
        min=0,
        max=10**9,
        description="seed",
        continuous_update=False,
        layout=layout,
        style=style,
    )
    c.episode = w.BoundedIntText(
        value=max(episode, 0),
        min=0,
        max=max_episode,
        description="episode",
        continuous_update=False,
        layout=layout,
        style=style,
    )
    c.step = w.IntSlider(
        value=step,
        min=0,
        max=physics.MAX_STEPS - 1,
        description="attention at step",
        continuous_update=False,
        layout=w.Layout(width="470px"),
        style=style,
    )
    c.view = w.ToggleButtons(
        options=VIEW_CHOICES,
        value="attention",
        description="show",
        style={"description_width": "110px", "button_width": "190px"},
    )
    c.note = w.HTML(static_note_html())
    c.caption = w.HTML()
    c.status = w.HTML()
    c.progress = w.IntProgress(
        value=0,
        min=0,
        max=physics.MAX_STEPS,
        description="step",
        layout=w.Layout(width="470px", display="none"),
        style={"description_width": "110px"},
    )
    c.att_note = w.HTML()
    c.output = w.Output()
    # The live probe: ticks in a browser connected to this kernel (see module doc).
    c.probe = w.Play(value=0, min=0, max=10**9, interval=250, layout=w.Layout(display="none"))
    for widget, name in (
        (c.note, "note"),
        (c.caption, "caption"),
        (c.status, "status"),
        (c.progress, "progress"),
        (c.output, "figure"),
        (c.att_note, "saturation"),
        (c.perm_text, "permutation"),
        (c.mode, "reshuffle"),
        (c.k, "k"),
        (c.intervention, "intervention"),
        (c.seed, "seed"),
        (c.episode, "episode"),
        (c.step, "step"),
        (c.view, "view"),
    ):
        widget.add_class(f"anp-{name}")  # stable hooks for styling and browser tests
    controls = w.VBox(
        [
            w.HBox([c.perm_text, c.random_button]),
            w.HBox([c.mode, c.k]),
            c.intervention,
            w.HBox([c.seed, c.episode]),
            c.step,
            c.view,
        ]
    )
    c.panel = w.VBox(
        [
            c.note,
            controls,
            c.caption,
            c.status,
            c.progress,
            c.output,
            c.att_note,
            c.probe,
        ]
    )
    return c


# The widget manager that renders the saved widgets on the book's pages
# (@jupyter-widgets/html-manager 1.x) typesets labels with MathJax 2's
# ``MathJax.Hub.Queue``; the book loads MathJax 3, which has no ``Hub``, and every label
# then throws. This script, shown once before the panel (it returns at once inside
# JupyterLab or the classic notebook, which typeset by themselves), gives MathJax 3 a
# ``Hub.Queue`` that calls its own typesetter, whenever MathJax is (re)assigned.
MATHJAX2_SHIM = """<script>
(function () {
  if (document.querySelector(".jp-LabShell, #notebook-container")) { return; }
  function shim(mj) {
    if (mj && typeof mj === "object" && !mj.Hub) {
      mj.Hub = {Queue: function (job) {
        var el = job && job[2];
        if (el && mj.typesetPromise) { mj.typesetPromise([el]).catch(function () {}); }
      }};
    }
  }
  var current = window.MathJax;
  shim(current);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    get: function () { return current; },
    set: function (v) { current = v; shim(v); },
  });
})();
</script>"""
