"""The HTML report is one self-contained file with its figures and tables, and no URL."""

from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from thinkgate.reports import build_report


def synthetic_items(seed: int = 0, n: int = 30) -> pd.DataFrame:
    """A small items table: two suites (one verifiable), two modes, K=2."""
    rng = np.random.default_rng(seed)
    rows = []
    for suite, domain, verifiable, p_think, p_no in (("gsm8k", "math", True, 0.7, 0.4),
                                                      ("flores_en_ms", "translation", False, 0.5, 0.5)):
        for i in range(n):
            for mode, p in (("think", p_think), ("no_think", p_no)):
                for k in range(2):
                    binary = verifiable
                    score = float(rng.random() < p) if binary else float(np.clip(rng.normal(p, 0.1), 0, 1))
                    rows.append({
                        "model": "tiny", "model_revision": "r1", "profile": "generic", "suite": suite,
                        "domain": domain, "verifiable": verifiable, "group": f"{suite}/{i}",
                        "item_id": f"{suite}/{i:03d}", "mode": mode, "sample": k, "key": f"{suite}{i}{mode}{k}",
                        "backend": "hf", "reasoning": "r" if mode == "think" else "", "answer": "a",
                        "think_state": "closed" if mode == "think" else "absent", "think_blocks": int(mode == "think"),
                        "finish_reason": "stop", "prompt_tokens": 50, "completion_tokens": 100,
                        "reasoning_tokens": 80 if mode == "think" else 0, "answer_tokens": 20,
                        "latency_s": 1.0, "error": None, "scorer": "math_verify" if binary else "chrf++",
                        "score": score, "passed": bool(score) if binary else None, "score_status": "ok",
                        "detail": '{"hypothesis": "a"}', "reference": '"a"', "status": "ok",
                        "extracted": str(int(score)) if binary else None, "temperature": 0.6, "top_p": 0.95,
                        "top_k": -1, "max_tokens": 256, "seed": k})
    return pd.DataFrame(rows)


class Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: dict[str, int] = {}
        self.attrs: list[tuple[str, str]] = []
        self.h2: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.attrs += [(k, v or "") for k, v in attrs]
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2 and data.strip():
            self.h2.append(data.strip())
            self._in_h2 = False


@pytest.fixture(scope="module")
def files():
    items = synthetic_items()
    other = synthetic_items(seed=1)
    return build_report(items, seed=0, runs={"base": items, "rl": other})


def test_html_has_figures_tables_and_sections(files):
    c = Collector()
    c.feed(files["report.html"])
    assert c.tags.get("svg", 0) >= 3 and c.tags.get("table", 0) >= 3
    for section in ("Think − no_think per suite", "Scores per suite and mode", "Score against tokens",
                    "How long does it think?", "Runs compared", "Methods",
                    "Transfer: does thinking pay off beyond verifiable domains?",
                    "Gain from thinking per domain group, against the baseline run"):
        assert section in c.h2


def test_html_is_self_contained(files):
    html = files["report.html"]
    assert "http://" not in html and "https://" not in html and "//" not in html.replace("<!--", "")
    c = Collector()
    c.feed(html)
    assert not [(k, v) for k, v in c.attrs if k in ("src", "href")]
    assert "<script" not in html and "<link" not in html


def test_headline_says_where_thinking_helps(files):
    assert "Thinking helps on gsm8k" in files["report.md"]
    assert "no detectable difference on 1 suite (flores_en_ms)" in files["report.md"]
    assert "thinking pays less on non-verifiable domains than on verifiable ones" in files["report.md"]


def test_mde_is_undefined_when_every_item_ties():
    import json

    items = synthetic_items(n=12)
    items.loc[items["suite"] == "flores_en_ms", "score"] = 0.5  # same score in both modes
    est = json.loads(build_report(items, seed=0)["estimates.json"])
    tied = next(p for p in est["paired"] if p["suite"] == "flores_en_ms")
    assert tied["diff"] == 0 and tied["mde_80"] is None  # not 0: nothing about power is known
    assert next(p for p in est["paired"] if p["suite"] == "gsm8k")["mde_80"] > 0


def test_a_suite_whose_requests_all_failed_still_renders():
    items = synthetic_items(n=8)
    failed = items["suite"] == "flores_en_ms"
    items.loc[failed, ["score", "passed"]] = None
    items.loc[failed, ["status", "finish_reason", "error"]] = ["error", "error", "server went away"]
    files = build_report(items, seed=0)
    assert "<svg" in files["report.html"] and "flores_en_ms" in files["report.md"]
    every = items.assign(score=None, passed=None, status="error", finish_reason="error", error="down")
    assert "nothing is compared" in build_report(every, seed=0)["report.md"]
