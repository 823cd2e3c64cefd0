"""Plug-ins: one Registry type for every kind, and third-party packages through entry points.

A tiny plug-in package (a module plus its .dist-info with entry_points.txt, which is all
importlib.metadata reads) adds one suite, scorer, backend, profile, router feature set and
router model; `thinkgate list` shows them and `thinkgate eval` runs the plug-in suite on
the plug-in backend with the plug-in profile and scorer.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from thinkgate.tasks.plugins import Registry, UnknownNameError, UserError

from .conftest import run_cli

PLUGIN = textwrap.dedent('''
    """A third-party thinkgate plug-in, as a user's own package would write it."""
    from dataclasses import dataclass

    from thinkgate.harness.backends import BackendSpec
    from thinkgate.harness.backends.base import RawGeneration
    from thinkgate.harness.profiles import PROFILES, Profile, Rendering, Sampling
    from thinkgate.tasks import Item, Score, Suite, chat
    from thinkgate.tasks.registry import ScorerSpec


    @dataclass(frozen=True)
    class ParityScorer:
        """1 when the answer says even/odd correctly."""
        name: str = "parity"
        version: str = "1"
        binary: bool = True

        def __call__(self, answer, item):
            ok = answer.strip().lower() == item.reference
            return Score(self.name, float(ok), ok)


    def parity_suite():
        items = [Item(f"parity/{n}", "parity", "math", True, chat(None, f"Is {n} even or odd?"),
                      "even" if n % 2 == 0 else "odd", f"parity/{n}") for n in range(6)]
        return Suite("parity", "math", True, "parity of small numbers", lambda: items, ParityScorer,
                     "plug-in", "CC0")


    scorer = ScorerSpec("parity", ParityScorer, "math", True, "even/odd, exact")


    def _render(messages, mode):
        return Rendering(tuple(messages), "<think>\\n" if mode == "think" else "")


    profile = Profile("plug-profile", "a plug-in profile: think prefill only",
                      {m: Sampling(temperature=0.0) for m in ("think", "no_think", "default")}, _render, "plug-in")


    class EchoBackend:
        """Answers every question right, thinking first in think mode (a test backend)."""
        name = "plug-echo"

        def __init__(self, model, config):
            self.model = model

        def generate(self, requests):
            out = []
            for r in requests:
                n = int(r.prompt.rsplit("Is ", 1)[1].split(" ")[0])
                answer = "even" if n % 2 == 0 else "odd"
                text = f"n mod 2 = {n % 2}</think>{answer}" if r.prompt.endswith("<think>\\n") else answer
                out.append(RawGeneration(r.key, text, "stop", len(r.prompt_token_ids), 5, 0.0))
            yield out

        def close(self):
            pass


    backend = BackendSpec("plug-echo", EchoBackend, "echo backend from a plug-in")


    def length_features(dense=False, seed=0):
        """Prompt length only (a plug-in feature set)."""
        from thinkgate.router.features import HandFeatures
        return HandFeatures()


    def always_logreg(y, seed=0):
        """Plain logistic regression (a plug-in router model)."""
        from sklearn.linear_model import LogisticRegression
        return LogisticRegression()
''')

ENTRY_POINTS = textwrap.dedent('''
    [thinkgate.suites]
    parity = thinkgate_plug:parity_suite

    [thinkgate.scorers]
    parity = thinkgate_plug:scorer

    [thinkgate.profiles]
    plug-profile = thinkgate_plug:profile

    [thinkgate.backends]
    plug-echo = thinkgate_plug:backend

    [thinkgate.router_features]
    plug-len = thinkgate_plug:length_features

    [thinkgate.router_models]
    plug-lr = thinkgate_plug:always_logreg
''')


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    (site / "thinkgate_plug-0.1.dist-info").mkdir(parents=True)
    (site / "thinkgate_plug.py").write_text(PLUGIN)
    (site / "thinkgate_plug-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: thinkgate-plug\nVersion: 0.1\n")
    (site / "thinkgate_plug-0.1.dist-info" / "entry_points.txt").write_text(ENTRY_POINTS)
    return site


def _env(site: Path) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def test_list_shows_one_of_each_kind_from_the_plugin(plugin_path):
    res = run_cli("list", env=_env(plugin_path))
    assert res.returncode == 0, res.stderr
    for kind, name in [("suites", "parity"), ("scorers", "parity"), ("profiles", "plug-profile"),
                       ("backends", "plug-echo"), ("router feature sets", "plug-len"), ("router models", "plug-lr")]:
        assert kind in res.stdout and name in res.stdout, (kind, name)
    assert "thinkgate_plug" in res.stdout  # the source column names the package
    for builtin in ("gsm8k", "humaneval", "qwen3", "vllm", "tfidf", "logreg"):
        assert builtin in res.stdout


def test_eval_runs_a_plugin_suite_on_a_plugin_backend(plugin_path, tmp_path, tiny_model):
    out = tmp_path / "run"
    res = run_cli("eval", "--suites", "parity", "--backend", "plug-echo", "--profile", "plug-profile",
                  "--out", str(out), env=_env(plugin_path))
    assert res.returncode == 0, res.stderr
    est = json.loads((out / "estimates.json").read_text())
    text = json.dumps(est)
    assert "parity" in text
    items = __import__("pandas").read_parquet(out / "items.parquet")
    assert set(items["mode"]) == {"think", "no_think"} and len(items) == 12
    assert items["score"].eq(1.0).all(), items[["mode", "answer", "score"]]
    assert (items.loc[items["mode"] == "think", "think_state"] == "closed").all()


def test_custom_jsonl_with_a_plugin_scorer(plugin_path, tmp_path, tiny_model):
    f = tmp_path / "mine.jsonl"
    f.write_text("\n".join(json.dumps({"prompt": f"Is {n} even or odd?", "answer": "even" if n % 2 == 0 else "odd"})
                           for n in range(4)) + "\n")
    res = run_cli("eval", "--suites", f"{f}:parity", "--backend", "plug-echo", "--profile", "plug-profile",
                  "--modes", "no_think", "--out", str(tmp_path / "o"), env=_env(plugin_path))
    assert res.returncode == 0, res.stderr


def test_a_broken_plugin_is_named_and_leaves_the_builtins_working(tmp_path):
    site = tmp_path / "site"
    (site / "bad_plug-0.1.dist-info").mkdir(parents=True)
    (site / "bad_plug-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: bad-plug\nVersion: 0.1\n")
    (site / "bad_plug-0.1.dist-info" / "entry_points.txt").write_text("[thinkgate.suites]\nbroken = bad_plug:nope\n")
    res = run_cli("eval", "--suites", "brokn", "--out", str(tmp_path / "o"), env=_env(site))
    assert res.returncode == 2
    assert "unknown suite 'brokn'" in res.stderr and "plug-in broken = bad_plug:nope failed to load" in res.stderr
    assert "gsm8k" in res.stderr


def test_registry_contract():
    reg: Registry[int] = Registry("widget", see="")

    @reg.register("one")
    def one():
        return 1

    reg.register("two", 2)
    assert reg.names() == ["one", "two"] and "two" in reg and reg.get("two") == 2
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("two", 3)
    reg.register("two", 3, replace=True)
    with pytest.raises(UnknownNameError) as e:
        reg.get("tow")
    assert str(e.value) == "unknown widget 'tow' (did you mean 'two'?); known widgets: one, two"
    assert isinstance(e.value, (UserError, KeyError, ValueError))


@pytest.mark.parametrize("kw, needle", [
    ({"modes": ("thnk",)}, "unknown mode 'thnk' (did you mean 'think'?)"),
    ({"suites": ("gsm8kk",)}, "unknown suite 'gsm8kk' (did you mean 'gsm8k'?)"),
    ({"profile": "qwen"}, "unknown profile 'qwen' (did you mean 'qwen3'?)"),
    ({"backend": "vlm"}, "unknown backend 'vlm' (did you mean 'vllm'?)"),
])
def test_python_and_cli_reject_a_misspelling_with_the_same_message(tmp_path, kw, needle):
    from thinkgate.harness.config import RunConfig
    from thinkgate.harness.errors import UserError as HarnessUserError
    from thinkgate.harness.runner import evaluate

    with pytest.raises(HarnessUserError) as e:
        evaluate(RunConfig(out=str(tmp_path / "o"), **kw))
    assert needle in str(e.value)
    flag, value = next(iter(kw.items()))
    res = run_cli("eval", f"--{flag}", value if isinstance(value, str) else ",".join(value),
                  "--out", str(tmp_path / "o"))
    assert res.returncode == 2
    assert res.stderr.strip() == f"error: {e.value}"


def test_a_run_repeats_from_its_own_config_file(plugin_path, tmp_path, tiny_model):
    out = tmp_path / "run"
    first = run_cli("eval", "--suites", "parity", "--backend", "plug-echo", "--profile", "plug-profile",
                    "--limit", "4", "--out", str(out), env=_env(plugin_path))
    assert first.returncode == 0, first.stderr
    again = run_cli("eval", "--config", str(out / "config.toml"), env=_env(plugin_path))
    assert again.returncode == 0, again.stderr
    assert "8 requests: 0 generated now (all were already in the store)" in again.stdout
    # an option on the command line overrides the file; YAML works too
    (tmp_path / "run.yaml").write_text(f"suites: [parity]\nbackend: plug-echo\nprofile: plug-profile\n"
                                       f"out: {tmp_path / 'yaml'}\nmodes: [no_think]\n")
    res = run_cli("eval", "--config", str(tmp_path / "run.yaml"), "--limit", "2", env=_env(plugin_path))
    assert res.returncode == 0, res.stderr
    assert "2 requests: 2 generated now" in res.stdout
    assert "limit = 2" in (tmp_path / "yaml" / "config.toml").read_text()


def test_a_config_file_with_an_unknown_setting_is_a_one_line_error(tmp_path):
    (tmp_path / "run.toml").write_text('suites = ["math"]\nmax_tokns = 12\n')
    res = run_cli("eval", "--config", str(tmp_path / "run.toml"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "unknown setting 'max_tokns' (did you mean 'max_tokens'?)" in res.stderr
