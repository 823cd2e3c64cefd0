"""The runner and the store, with a scripted engine (the real engines are tested in e2e/)."""

import json
import sqlite3

import pytest

from thinkgate.harness.backends.base import RawGeneration
from thinkgate.harness.errors import UserError
from thinkgate.harness.runner import RunConfig, evaluate
from thinkgate.harness.store import Store


def cfg(tmp_path, **kw):
    base = dict(out=str(tmp_path / "run"), model=None, profile="generic", suites=("gsm8k",),
                modes=("think", "no_think"), samples=2, limit=3, max_tokens=64)
    return RunConfig(**{**base, **kw})


def answer_18(req):
    return "18 is it.\n</think>\n\n\\boxed{18}" if req.prompt.endswith("<think>\n") else "\\boxed{18}"


def test_generates_scores_and_exports(tmp_path, tiny_model, scripted):
    backend = scripted(answer_18)
    res = evaluate(cfg(tmp_path), backend=backend, progress=False)
    assert (res.planned, res.generated, res.errors) == (12, 12, 0)
    items = Store(res.out).items()
    assert len(items) == 12 and items["key"].is_unique
    assert set(items["status"]) == {"ok"}
    first = items[items["item_id"] == "gsm8k/0000"]
    assert first["score"].tolist() == [1.0] * 4  # gold of item 0 is 18
    think = first[first["mode"] == "think"].iloc[0]
    assert (think["reasoning"], think["answer"], think["think_state"]) == ("18 is it.", "\\boxed{18}", "closed")
    assert think["reasoning_tokens"] > 0 and think["answer_tokens"] > 0
    for name in ("report.md", "estimates.json", "items.csv", "items.parquet"):
        assert (res.out / name).is_file()


def test_sample_index_is_part_of_the_key(tmp_path, tiny_model, scripted):
    res = evaluate(cfg(tmp_path, samples=3, limit=1, modes=("think",)), backend=scripted(answer_18), progress=False)
    items = Store(res.out).items()
    assert sorted(items["sample"]) == [0, 1, 2] and items["key"].nunique() == 3


def test_second_run_generates_nothing_and_extension_generates_only_new(tmp_path, tiny_model, scripted):
    evaluate(cfg(tmp_path), backend=scripted(answer_18), progress=False)
    report = (tmp_path / "run" / "report.md").read_text()
    again = scripted(answer_18)
    res = evaluate(cfg(tmp_path), backend=again, progress=False)
    assert res.generated == 0 and again.calls == []  # the engine is not even asked
    assert (tmp_path / "run" / "report.md").read_text() == report
    more = scripted(answer_18)
    res = evaluate(cfg(tmp_path, limit=4), backend=more, progress=False)
    assert res.generated == 4 and len(more.calls[0]) == 4


def test_failed_requests_are_errors_not_wrong_answers_and_are_retried(tmp_path, tiny_model, scripted):
    def flaky(req):
        if req.sampling.seed % 2:
            return RawGeneration(req.key, "", "error", 1, 0, 0.0, None, "HTTP 503")
        return answer_18(req)

    res = evaluate(cfg(tmp_path), backend=scripted(flaky), progress=False)
    items = Store(res.out).items()
    failed = items[items["status"] == "error"]
    assert res.errors == len(failed) > 0
    assert failed["score"].isna().all() and (failed["error"] == "HTTP 503").all()
    assert "failed (excluded, not scored as wrong)" in (res.out / "report.md").read_text()
    retry = scripted(answer_18)
    res2 = evaluate(cfg(tmp_path), backend=retry, progress=False)
    assert res2.generated == len(failed) and res2.errors == 0
    assert set(Store(res.out).items()["status"]) == {"ok"}


def test_engine_crash_keeps_what_finished(tmp_path, tiny_model, scripted):
    class Crashing(scripted):
        def generate(self, requests):
            yield [RawGeneration(r.key, "\\boxed{1}", "stop", 1, 1, 0.1) for r in requests[:2]]
            raise RuntimeError("engine died")

    res = evaluate(cfg(tmp_path), backend=Crashing(answer_18), progress=False)
    c = Store(res.out).counts()
    assert (c["generations"], c["errors"]) == (2, 10)


def test_unclosed_think_never_reaches_the_scorer(tmp_path, tiny_model, scripted, monkeypatch):
    from thinkgate.tasks import math as math_suite

    seen = []
    real = math_suite.MathVerifyScorer.__call__

    def spy(self, answer, item):
        seen.append(answer)
        return real(self, answer, item)

    monkeypatch.setattr(math_suite.MathVerifyScorer, "__call__", spy)
    trace = "the answer is \\boxed{18} I guess, let me keep going"
    backend = scripted(lambda r: RawGeneration(r.key, trace, "length", 1, 64, 0.1))
    res = evaluate(cfg(tmp_path, modes=("think",)), backend=backend, progress=False)
    items = Store(res.out).items()
    assert (items["think_state"] == "unclosed").all()
    assert (items["answer"] == "").all() and (items["score"] == 0).all()
    assert seen == []  # the trace (which holds a correct-looking \boxed{18}) was never scored


def test_run_dir_with_other_settings_is_refused(tmp_path, tiny_model, scripted):
    evaluate(cfg(tmp_path), backend=scripted(answer_18), progress=False)
    with pytest.raises(UserError, match="max_tokens: 64 -> 99.*another --out"):
        evaluate(cfg(tmp_path, max_tokens=99), backend=scripted(answer_18), progress=False)


def test_store_is_wal_with_unique_keys(tmp_path, tiny_model, scripted):
    res = evaluate(cfg(tmp_path), backend=scripted(answer_18), progress=False)
    db = sqlite3.connect(res.out / "thinkgate.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(sqlite3.IntegrityError):
        key = db.execute("SELECT key FROM requests LIMIT 1").fetchone()[0]
        db.execute("INSERT INTO requests (key) VALUES (?)", (key,))


def test_planned_keys_and_seeds_are_those_of_request_key_and_sample_seed(tokenizer):
    from thinkgate.harness.models import ModelRef
    from thinkgate.harness.pipeline import with_token_ids
    from thinkgate.harness.profiles import get_profile
    from thinkgate.harness.runner import load_suites, plan_requests, request_key, sample_seed

    c = RunConfig(out="unused", profile="generic", suites=("gsm8k",), samples=3, limit=2, temperature=0.7, seed=5)
    model, profile = ModelRef("m", "/m", "rev"), get_profile("generic")
    for tok in (None, tokenizer):
        planned = plan_requests(c, model, profile, tok, load_suites(c.suites), token_ids=False)
        assert len({p.row.key for p in planned}) == len(planned) == 12
        for p in planned:
            r, e = p.row, p.engine
            assert e.sampling.seed == sample_seed(5, r.item_id, r.mode, r.sample) and e.sampling.temperature == 0.7
            assert r.key == e.key == request_key(model, "generic", r.mode, r.sample, e.sampling, r.prompt)
            assert json.loads(r.sampling) == e.sampling.as_dict() and e.prompt_token_ids == ()
    with_token_ids(planned[:4], tokenizer)
    assert planned[0].engine.prompt_token_ids == tuple(tokenizer(planned[0].row.prompt, add_special_tokens=False)["input_ids"])


def test_resume_asks_the_store_once_and_loads_no_engine(tmp_path, tiny_model, scripted, monkeypatch):
    evaluate(cfg(tmp_path), backend=scripted(answer_18), progress=False)
    asked = []
    real = Store.done_keys
    monkeypatch.setattr(Store, "done_keys", lambda self: (asked.append(1), real(self))[1])
    monkeypatch.setattr("thinkgate.harness.runner.make_backend", lambda *a: pytest.fail("no engine on resume"))
    res = evaluate(cfg(tmp_path, backend="hf"), progress=False)
    assert (res.generated, res.backend) == (0, None) and len(asked) == 1


def test_a_second_eval_on_a_busy_folder_is_refused(tmp_path, tiny_model, scripted):
    holder = Store(tmp_path / "run")
    with pytest.raises(UserError, match="already open"):
        evaluate(cfg(tmp_path), backend=scripted(answer_18), progress=False)
    holder.close()
    assert evaluate(cfg(tmp_path), backend=scripted(answer_18), progress=False).generated == 12


def test_a_full_disk_stops_the_run_and_the_next_run_finishes_it(tmp_path, tiny_model, scripted, monkeypatch):
    real_init = Store.__init__

    def small_disk(self, run_dir):
        real_init(self, run_dir)
        pages, size = (self.db.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size"))
        # room for the requests and two batches of four 60 kB generations, not three
        self.db.execute(f"PRAGMA max_page_count = {pages + 600_000 // size}")

    long = "x" * 30_000 + "\n</think>\n\n\\boxed{18}"
    monkeypatch.setattr(Store, "__init__", small_disk)
    with pytest.raises(UserError, match="disk is full.*re-run the same command to resume"):
        evaluate(cfg(tmp_path), backend=scripted(lambda r: long), progress=False)
    monkeypatch.setattr(Store, "__init__", real_init)
    with Store(tmp_path / "run") as store:  # the failed run freed the folder and left it intact
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        kept = len(store.done_keys())
    assert 0 < kept < 12
    again = scripted(answer_18)
    res = evaluate(cfg(tmp_path), backend=again, progress=False)
    assert res.generated == 12 - kept == len(again.calls[0])
    assert set(Store(res.out).items()["status"]) == {"ok"}
