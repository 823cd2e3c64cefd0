"""Scoring beside generation (harness/pipeline.py), with a scripted engine and the real math scorer."""

import sqlite3
import threading

import pytest

from thinkgate.harness.backends.base import RawGeneration
from thinkgate.harness.config import RunConfig
from thinkgate.harness.models import ModelRef
from thinkgate.harness.pipeline import run_pipeline
from thinkgate.harness.profiles import get_profile
from thinkgate.harness.runner import generate_pending, load_suites, plan_requests, score_pending
from thinkgate.harness.store import Store, StoreWriteError
from thinkgate.tasks import math as math_suite


def plan(limit=4, samples=2, modes=("think", "no_think")):
    cfg = RunConfig(out="unused", profile="generic", suites=("gsm8k",), modes=modes, samples=samples,
                    limit=limit, max_tokens=64)
    suites = load_suites(cfg.suites)
    return plan_requests(cfg, ModelRef("m", "m", "r"), get_profile("generic"), None, suites), suites


def mixed(req):
    """Right, wrong, unclosed and leaking answers, by the request's sample index and item."""
    think = req.prefill.endswith("<think>\n")
    kind = int(req.messages[-1]["content"].count(" ") + req.sampling.seed % 2) % 4
    if kind == 0:
        return "18 is it.\n</think>\n\n\\boxed{18}" if think else "\\boxed{18}"
    if kind == 1:
        return "hmm\n</think>\n\n\\boxed{7}" if think else "\\boxed{7} <think>wait, a leak</think>"
    if kind == 2:
        return RawGeneration(req.key, "still thinking \\boxed{18}", "length", 1, 64, 0.1)
    return "ok\n</think>\n\nThe answer is \\boxed{3}" if think else "\\boxed{3}"


def scores_of(store):
    items = store.items()
    return {r.key: (r.score, r.passed, r.status, r.scorer) for r in items.itertuples()}


def test_scores_are_those_of_the_sequential_path(tmp_path, scripted):
    planned, suites = plan()
    with Store(tmp_path / "seq") as seq:
        seq.add_requests(p.row for p in planned)
        generate_pending(seq, planned, scripted(mixed), None)
        assert score_pending(seq, suites) == len(planned) == 16
        want = scores_of(seq)
    with Store(tmp_path / "pipe") as pipe:
        pipe.add_requests(p.row for p in planned)
        res = run_pipeline(pipe, planned, scripted(mixed), suites)
        assert (res.generated, res.errors, res.scored) == (16, 0, 16)
        assert scores_of(pipe) == want
        items = pipe.items()
    assert set(items["status"]) == {"ok"} and items["score"].notna().all()
    leaked = items[items["leaked_think"]]
    assert len(leaked) > 0 and set(leaked["mode"]) == {"no_think"}


def test_scoring_starts_while_generation_is_still_running(tmp_path, scripted, monkeypatch):
    planned, suites = plan(limit=3, samples=1)
    scored = threading.Event()
    real = math_suite.MathVerifyScorer.__call__

    def spy(self, answer, item):
        scored.set()
        return real(self, answer, item)

    monkeypatch.setattr(math_suite.MathVerifyScorer, "__call__", spy)
    seen = []

    class WaitsForTheScorer(scripted):
        def generate(self, requests):
            yield [RawGeneration(r.key, "\\boxed{18}", "stop", 1, 1, 0.1) for r in requests[:2]]
            seen.append(scored.wait(timeout=60))  # sequential scoring would only start after this
            yield [RawGeneration(r.key, "\\boxed{18}", "stop", 1, 1, 0.1) for r in requests[2:]]

    with Store(tmp_path) as store:
        store.add_requests(p.row for p in planned)
        res = run_pipeline(store, planned, WaitsForTheScorer(mixed), suites)
    assert seen == [True] and res.scored == 6


def test_a_crash_mid_scoring_loses_no_generation_and_resume_scores_only_the_unscored(tmp_path, scripted, monkeypatch):
    planned, suites = plan()
    real = math_suite.MathVerifyScorer.__call__
    calls = []

    def crashes_on_the_third(self, answer, item):
        calls.append(answer)
        if len(calls) == 3:
            raise KeyboardInterrupt  # not a scorer bug: the run itself stops
        return real(self, answer, item)

    monkeypatch.setattr(math_suite.MathVerifyScorer, "__call__", crashes_on_the_third)
    yielded = []

    class Recording(scripted):
        def generate(self, requests):
            for batch in super().generate(requests):
                yielded.extend(g.key for g in batch)
                yield batch

    store = Store(tmp_path)
    store.add_requests(p.row for p in planned)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(store, planned, Recording(mixed, batch=2), suites, chunk=2)
    assert store.done_keys() == set(yielded) and yielded  # every generation that came back is kept
    unscored = store.to_score({"gsm8k": ("math_verify", math_suite.MathVerifyScorer().version)})
    assert unscored  # the crash left work to do
    store.close()

    calls.clear()
    monkeypatch.setattr(math_suite.MathVerifyScorer, "__call__", lambda self, a, i: (calls.append(a), real(self, a, i))[1])
    with Store(tmp_path) as store:
        done = store.done_keys()
        pending = [p for p in planned if p.row.key not in done]
        again = scripted(mixed)
        res = run_pipeline(store, pending, again if pending else None, suites)
        assert res.generated == len(pending) and sorted(sum(again.calls, [])) == sorted(p.row.key for p in pending)
        unclosed = {k for k in store.items().query("think_state == 'unclosed'")["key"]}
        fresh = [p for p in pending if p.row.key not in unclosed]
        assert len(calls) == len([r for r in unscored if r["key"] not in unclosed]) + len(fresh)
        assert res.scored == len(unscored) + len(pending)
        assert set(store.items()["status"]) == {"ok"}


class FullDisk:
    """The store's connection, with writes to one table failing as on a full disk."""

    def __init__(self, db, table):
        self._db, self.table = db, table

    def __getattr__(self, name):
        return getattr(self._db, name)

    def __enter__(self):
        return self._db.__enter__()

    def __exit__(self, *exc):
        return self._db.__exit__(*exc)

    def executemany(self, sql, rows):
        if f"INTO {self.table} " in sql:
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.executemany(sql, rows)


@pytest.mark.parametrize("table", ["scores", "generations"])
def test_a_failed_write_stops_the_run_and_resume_finishes_it(tmp_path, scripted, table):
    planned, suites = plan()
    store = Store(tmp_path)
    store.add_requests(p.row for p in planned)
    real_db, store.db = store.db, FullDisk(store.db, table)
    with pytest.raises(StoreWriteError, match="disk is full.*re-run the same command to resume"):
        run_pipeline(store, planned, scripted(mixed), suites)
    store.db = real_db
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    if table == "generations":
        assert store.done_keys() == set()
    store.close()
    with Store(tmp_path) as store:
        done = store.done_keys()
        pending = [p for p in planned if p.row.key not in done]
        again = scripted(mixed)
        run_pipeline(store, pending, again, suites)
        assert len(sum(again.calls, [])) == len(pending)  # nothing generated twice
        items = store.items()
    assert len(items) == 16 and set(items["status"]) == {"ok"}


def test_nothing_pending_and_nothing_unscored_needs_no_backend(tmp_path, scripted):
    planned, suites = plan(limit=2, samples=1)
    with Store(tmp_path) as store:
        store.add_requests(p.row for p in planned)
        run_pipeline(store, planned, scripted(mixed), suites)
        res = run_pipeline(store, [], None, suites)
    assert (res.generated, res.errors, res.scored) == (0, 0, 0)
