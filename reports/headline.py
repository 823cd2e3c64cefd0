"""The report's headline: where thinking helps, where not, in plain words.

A pure function of the paired estimates (and, when present, the transfer contrast).
"""

from __future__ import annotations

import math
from typing import Any, Sequence


def _pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def _ci(r: dict[str, Any]) -> str:
    return f"{_pts(r['diff'])} pts [{_pts(r['ci_low'])}, {_pts(r['ci_high'])}]"


def direction(r: dict[str, Any]) -> int:
    """+1 / -1 when a difference is resolved (CI excludes 0 AND its test rejects at 5%),
    else 0. Requiring both keeps a tiny-n t interval from calling a winner that the exact
    or permutation test cannot see."""
    lo, hi, p = r.get("ci_low"), r.get("ci_high"), r.get("p_value")
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return 0
    if p is not None and not (p < 0.05):
        return 0
    return 1 if lo > 0 else -1 if hi < 0 else 0


def headline(paired: Sequence[dict[str, Any]], transfer: dict[str, Any] | None = None) -> str:
    """One paragraph: e.g. "Thinking helps on gsm8k (+12.0 pts [+8.0, +16.0]); no detectable
    difference on 2 suites (flores_en_ms, quiz) at this sample size." """
    rows = [r for r in paired if r["a"] == "think" and r["b"] == "no_think"]
    if not rows:
        return "No suite has scored answers in both think and no_think mode yet, so nothing is compared."
    helps = [r for r in rows if direction(r) > 0]
    hurts = [r for r in rows if direction(r) < 0]
    unclear = [r for r in rows if r not in helps and r not in hurts]
    parts = []
    if helps:
        parts.append("thinking helps on " + "; ".join(f"{r['suite']} ({_ci(r)})" for r in helps))
    if hurts:
        parts.append(("it hurts on " if helps else "thinking hurts on ") + "; ".join(f"{r['suite']} ({_ci(r)})" for r in hurts))
    if unclear:
        names = ", ".join(r["suite"] for r in unclear)
        parts.append(f"no detectable difference on {len(unclear)} suite{'s' * (len(unclear) > 1)} "
                     f"({names}) at this sample size")
    text = "; ".join(parts)
    text = text[0].upper() + text[1:] + "."
    if transfer and transfer.get("contrast"):
        v, n, c = transfer.get("verifiable"), transfer.get("non_verifiable"), transfer["contrast"]
        text += (f" Transfer: thinking changes scores by {_ci(v)} on verifiable domains and by {_ci(n)} on "
                 f"non-verifiable ones; the difference is {_ci(c)}"
                 # worded for gains and losses alike: a contrast can be resolved with both Δs <= 0
                 + (" — thinking pays less on non-verifiable domains than on verifiable ones." if c["ci_low"] > 0 else
                    " — thinking pays more on non-verifiable domains than on verifiable ones." if c["ci_high"] < 0 else
                    " — not distinguishable from equal transfer at this n."))
    return text
