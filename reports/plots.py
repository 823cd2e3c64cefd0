"""Figures for the HTML report, as inline SVG strings (matplotlib, no external files).

Each function takes plain rows (the dicts of `estimates.json`) or an items table and
returns an `<svg>` element as text, ready to paste into a self-contained page.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any, Sequence

import pandas as pd

WIDTH = 7.2  # inches: fits a 960 px page without sideways scrolling


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # drop the XML prolog and doctype
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)  # RDF block: URLs, a date
    # Inline SVG in HTML needs no namespace declarations; dropping them keeps the page
    # free of any URL at all (the HTML parser knows svg and xlink:href natively).
    return text.replace(' xmlns:xlink="http://www.w3.org/1999/xlink"', "").replace(
        ' xmlns="http://www.w3.org/2000/svg"', "")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "thinkgate", "font.size": 9, "axes.spines.top": False,
                         "axes.spines.right": False})
    return plt


def forest_plot(paired: Sequence[dict[str, Any]], contrasts: Sequence[dict[str, Any]] = ()) -> str:
    """think − no_think per suite with 95% CIs, verifiable suites first; then contrasts
    (rows with label, diff, ci_low, ci_high), e.g. the transfer contrast."""
    plt = _plt()
    rows = sorted(paired, key=lambda r: (not r.get("verifiable", False), r["suite"]))
    labels = [f"{r['suite']} ({'verifiable' if r.get('verifiable') else 'not verifiable'})" for r in rows]
    labels += [c["label"] for c in contrasts]
    from thinkgate.reports.headline import direction

    vals = [(r["diff"], r["ci_low"], r["ci_high"]) for r in rows]
    vals += [(c["diff"], c["ci_low"], c["ci_high"]) for c in contrasts]
    dirs = [direction(r) for r in rows] + [0] * len(contrasts)
    fig, ax = plt.subplots(figsize=(WIDTH, 0.32 * len(vals) + 1.0))
    for y, (d, lo, hi) in enumerate(vals):
        colour = "#555" if y >= len(rows) else {1: "#1b7837", -1: "#b2182b"}.get(dirs[y], "#4a6fa5")
        if not any(math.isnan(v) for v in (lo, hi)):
            ax.plot([100 * lo, 100 * hi], [y, y], color=colour, lw=2)
        ax.plot([100 * d], [y], "o" if y < len(rows) else "D", color=colour)
    ax.axvline(0, color="#999", lw=1, ls="--")
    lo_x, hi_x = ax.get_xlim()
    ax.set_xlim(min(lo_x, -5), max(hi_x, 5))  # never a zoom into noise around 0
    if contrasts and rows:
        ax.axhline(len(rows) - 0.5, color="#ccc", lw=0.8)
    ax.set_yticks(range(len(vals)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("think − no_think (points, 95% CI)")
    return _svg(fig)


def score_vs_tokens(suites: Sequence[dict[str, Any]]) -> str:
    """Mean score against mean generated tokens per suite, one marker per mode, a line
    joining the two modes of a suite (the inference-time scaling view)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6))
    markers = {"think": "o", "no_think": "s", "default": "^"}
    df = pd.DataFrame(suites)
    ax.set_ylim(-3, 103)  # before the labels: they are placed against the final limits
    if not df.empty:
        df["tokens"] = df["mean_reasoning_tokens"].fillna(0) + df["mean_answer_tokens"].fillna(0)
        labels = []
        for suite, g in df.groupby("suite"):
            g = g.sort_values("tokens")
            ax.plot(g["tokens"], 100 * g["mean"], color="#bbb", lw=1, zorder=1)
            for _, r in g.iterrows():
                ax.scatter(r["tokens"], 100 * r["mean"], marker=markers.get(r["mode"], "x"), zorder=2,
                           color="#1b7837" if r["verifiable"] else "#4a6fa5")
            scored = g.dropna(subset=["mean"])  # a suite whose requests all failed has no mean
            if not scored.empty:
                top = scored.loc[scored["mean"].idxmax()]  # a suite is named at its best mode
                labels.append((suite, top["tokens"], 100 * top["mean"]))
        _place_labels(ax, sorted(labels, key=lambda t: -t[2]))
    for mode, m in markers.items():
        ax.scatter([], [], marker=m, color="#666", label=mode)
    ax.legend(frameon=False, fontsize=8)
    ax.set_xlabel("mean generated tokens per answer (reasoning + answer)")
    ax.set_ylabel("mean score (%)")
    return _svg(fig)


def _place_labels(ax: Any, labels: Sequence[tuple[str, float, float]]) -> None:
    """Name points without overlap: try a few offsets around each point, in the order
    given, and leave a label out when every offset would cover one already placed (the
    tables beside the figure name every suite). Hand-written: matplotlib has no label
    placer, and adjustText would be a dependency for one figure."""
    renderer = ax.figure.canvas.get_renderer()
    placed: list[Any] = []
    for text, x, y in labels:
        for dx, dy in ((3, 2), (3, -9), (-3, 2), (-3, -9)):
            ann = ax.annotate(text, (x, y), fontsize=7, xytext=(dx, dy), textcoords="offset points",
                              ha="left" if dx > 0 else "right")
            box = ann.get_window_extent(renderer)
            if not any(box.overlaps(b) for b in placed):
                placed.append(box)
                break
            ann.remove()


def reasoning_tokens_by_domain(items: pd.DataFrame) -> str:
    """Box plots of reasoning tokens per generation, per domain, think mode."""
    plt = _plt()
    think = items[(items["mode"] == "think") & items["finish_reason"].isin(["stop", "length"])]
    domains = sorted(think["domain"].unique()) if len(think) else []
    fig, ax = plt.subplots(figsize=(WIDTH, 2.8))
    if domains:
        ax.boxplot([think.loc[think["domain"] == d, "reasoning_tokens"].to_numpy() for d in domains],
                   showfliers=True)
        ax.set_xticks(range(1, len(domains) + 1), domains)
    ax.set_ylabel("reasoning tokens (think mode)")
    return _svg(fig)


def routing_curve(ev: dict[str, Any]) -> str:
    """The router's cost–quality curve: mean score against think rate, with the
    never-think, always-think and oracle points and the random (straight) line."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(WIDTH, 3.2))
    curve = ev.get("curve") or []
    if curve:
        ax.plot([c["think_rate"] for c in curve], [100 * c["mean_score"] for c in curve], "-",
                color="#4a6fa5", label="router (threshold sweep)")
    never, always = ev.get("never", {}), ev.get("always", {})
    if never and always:
        ax.plot([0, 1], [100 * never["mean_score"], 100 * always["mean_score"]], ls="--", color="#999",
                label="random at the same rate")
    oracle = ev.get("oracle", {})
    if oracle.get("think_rate") is not None:
        ax.scatter([oracle["think_rate"]], [100 * oracle["mean_score"]], marker="*", s=90, color="#1b7837",
                   label="oracle", zorder=3)
    at = (ev.get("router") or {}).get("at_threshold") or {}
    if at:
        ax.scatter([at["think_rate"]], [100 * at["mean_score"]], marker="o", color="#b2182b",
                   label="router at its threshold", zorder=3)
    ax.set_xlabel("think rate")
    ax.set_ylabel("mean score (%)")
    ax.legend(frameon=False, fontsize=8)
    return _svg(fig)


def score_vs_thinking_tokens(curves: Sequence[dict[str, Any]]) -> str:
    """Score against mean thinking tokens per domain (budgets.curves, level "domain"): one
    point per arm with its 95% CI, the AUC's arms joined by a line, no_think at the left.
    An arm whose budget did not hold is drawn hollow and red and named "not held";
    `default` is a triangle, +wait arms diamonds (neither is on the line)."""
    plt = _plt()
    doms = [c for c in curves if c["level"] == "domain"]
    cols = max(1, min(3, len(doms)))
    rows = max(1, math.ceil(len(doms) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(WIDTH, 2.6 * rows), squeeze=False, sharey=True)
    for ax in axes.flat[len(doms):]:
        ax.set_visible(False)
    for ax, c in zip(axes.flat, doms):
        ax.set_ylim(-3, 103)  # before the labels: they are placed against the final limits
        line = sorted((p for p in c["points"] if p["in_auc"]), key=lambda p: p["tokens"])
        ax.plot([p["tokens"] for p in line], [100 * p["mean"] for p in line], color="#bbb", lw=1, zorder=1)
        labels = []
        for p in c["points"]:
            colour = "#b2182b" if p["flagged"] else "#1b7837" if c["verifiable"] else "#4a6fa5"
            marker = "^" if p["mode"] == "default" else "D" if "+wait" in p["mode"] else "o"
            if not any(v is None or math.isnan(v) for v in (p["ci_low"], p["ci_high"])):
                ax.plot([p["tokens"]] * 2, [100 * p["ci_low"], 100 * p["ci_high"]], color=colour, lw=1, alpha=0.6)
            ax.scatter([p["tokens"]], [100 * p["mean"]], marker=marker, zorder=2, color=colour,
                       facecolors="none" if p["flagged"] else colour)
            labels.append((p["mode"].replace("budget:", "").replace("no_think", "no")
                           + (" (not held)" if p["flagged"] else ""), p["tokens"], 100 * p["mean"]))
        _place_labels(ax, labels)
        auc = c.get("auc")
        title = c["name"] if auc is None or math.isnan(auc) else f"{c['name']} · AUC {100 * auc:.1f}%"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("mean thinking tokens")
    axes[0][0].set_ylabel("mean score (%)")
    return _svg(fig)
