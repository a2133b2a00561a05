"""The two-agent experiment tables (pandas; formatting only, every number comes from an
`anpolicy.study.chapters.StudyResult`) and the introduction's scores table."""

from __future__ import annotations

from anpolicy.report.experiment_plots import AGENT_STYLE, first_measured, measured_agents


def permutations_table(res):
    """Mean return [95 % CI] per condition and agent, with Tang & Ha's published numbers."""
    import pandas as pd

    from anpolicy.study.claims import ci
    from anpolicy.study.published import tang_ha

    order = ["none", "reset"] + [f"every_{k}" for k in res.shared["intervals"]] + ["every_1"]
    fnn = (res.shared.get("fnn") or {}).get("conditions", {})
    rows = []
    for c in order:
        row = {"condition": c, "Tang & Ha (mean ± sd)": tang_ha("an", c)}
        for key, rec in measured_agents(res):
            s = rec.conditions[c]
            row[AGENT_STYLE[key][2]] = ci(s)
            row[f"{AGENT_STYLE[key][2]}: kept"] = "{:.2f} [{:.2f}, {:.2f}]".format(
                s["kept"]["ratio"], *s["kept"]["ci95"]
            )
        row["our FNN"] = ci(fnn[c]) if c in fnn else ""
        row["FNN, Tang & Ha"] = tang_ha("fnn", c)
        rows.append(row)
    return pd.DataFrame(rows).set_index("condition")


def reset_table(res):
    """Reset at each reshuffle vs no intervention, paired, per k and agent."""
    import pandas as pd

    from anpolicy.study.claims import ci

    rows = {}
    for key, rec in measured_agents(res):
        for k, d in rec.reset_vs_nothing.items():
            rows.setdefault(int(k), {})[f"{AGENT_STYLE[key][2]}: reset − nothing"] = ci(d, 1, True)
    df = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    df.index.name = "k"
    return df


def noise_table(res):
    """Mean return and paired difference vs shuffled per condition and agent."""
    import pandas as pd

    from anpolicy.study.claims import ci
    from anpolicy.study.published import tang_ha

    th_key = {"unshuffled": "none", "shuffled": "reset"}
    rows = []
    for c in first_measured(res).conditions:
        row = {"input": c, "Tang & Ha (mean ± sd)": tang_ha("an", th_key.get(c, c))}
        for key, rec in measured_agents(res):
            name = AGENT_STYLE[key][2]
            row[name] = ci(rec.conditions[c])
            row[f"{name} − shuffled"] = ci(rec.paired[c], 1, True) if c in rec.paired else ""
        rows.append(row)
    return pd.DataFrame(rows).set_index("input")


def attention_table(res):
    """The mismatch e_t per condition and agent."""
    import pandas as pd

    from anpolicy.study.attention import TWIN_CONDITIONS, format_ci

    rows = []
    for key, rec in measured_agents(res):
        for c, e in rec.errors.items():
            rows.append({
                "agent": AGENT_STYLE[key][2], "condition": TWIN_CONDITIONS[c],
                "e at the reshuffle": format_ci(e["after_0"]),
                "e 10 steps later": format_ci(e.get("after_10")),
                "max e at the reshuffle": f"{e['at_reshuffle_max']:.2g}",
                "mean e after": f"{e['mean_after']:.2g}",
                "steps until mean e < 1 %": e["steps_below_faded"],
            })  # fmt: skip
    return pd.DataFrame(rows).set_index(["agent", "condition"])


def scores_table(res):
    """Each measured agent's mean return [95 % CI] unshuffled and shuffled at reset (from
    the permutations chapter's result ``res``), beside Tang & Ha's published mean ± sd."""
    import pandas as pd

    from anpolicy.study.claims import ci
    from anpolicy.study.published import tang_ha

    rows = []
    for key, rec in measured_agents(res) if res is not None else []:
        name = res.agents[key]["label"] if key in res.agents else AGENT_STYLE[key][2]
        rows.append({
            "agent": name,
            "unshuffled": ci(rec.conditions["none"]),
            "shuffled at reset": ci(rec.conditions["reset"]),
            "episodes": rec.conditions["none"]["n"],
        })  # fmt: skip
    rows.append({
        "agent": "Tang & Ha 2021, published (mean ± sd)",
        "unshuffled": tang_ha("an", "none"),
        "shuffled at reset": tang_ha("an", "reset"),
        "episodes": 1000,
    })  # fmt: skip
    return pd.DataFrame(rows).set_index("agent")


def verdict_table_html(verdicts, caption: str = "") -> str:
    """The conclusions' verdict table as self-contained HTML, four columns so that it fits
    the page: the claim (its source, reported number and rule one click away), then per
    agent its verdict (coloured) above what was measured, our column saying whether our
    agent gets the same verdict, and the chapter that measured it. ``verdicts``:
    `anpolicy.study.verdicts.build_verdicts` rows."""
    import html

    from anpolicy.study.verdicts import VERDICT_COLOURS, link

    esc = html.escape

    def badge(verdict: str) -> str:
        colour = VERDICT_COLOURS.get(verdict, "#ffffff")
        return f'<b style="background:{colour};padding:0 0.3em">{esc(verdict)}</b>'

    rows = []
    for v in verdicts:
        a, o = v.by_agent["authors"], v.by_agent["ours"]
        rule = esc(v.rule + (f" {v.note}" if v.note else ""))
        claim = (
            f"{esc(v.claim)}<details><summary>source, rule</summary>{esc(v.source)}; "
            f"reported: {esc(v.reported)}. <i>Rule:</i> {rule}</details>"
        )
        same = "" if v.agrees == "—" else f" (same verdict: {esc(v.agrees)})"
        cells = [
            claim,
            f"{badge(a.verdict)}<br>{esc(a.measured)}",
            f"{badge(o.verdict)}{same}<br>{esc(o.measured)}",
            link(v.chapter),
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = ["claim", "Tang & Ha's agent: verdict, measured", "our agent: verdict, measured"]
    widths = ["26%", "32%", "32%", "10%"]
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (
        '<table class="table verdict-table" style="font-size:0.8em;width:100%;'
        'overflow-wrap:anywhere">'
        + cap
        + "<colgroup>"
        + "".join(f'<col style="width:{w}">' for w in widths)
        + "</colgroup><thead><tr>"
        + "".join(f"<th>{esc(h)}</th>" for h in [*head, "chapter"])
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )
