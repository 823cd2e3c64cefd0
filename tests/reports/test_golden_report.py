"""A golden file pins report.md for a fixed store (regenerate: THINKGATE_UPDATE_GOLDEN=1)."""

import os
from pathlib import Path

from thinkgate.harness.report_io import write_outputs
from thinkgate.harness.store import GenerationRow, RequestRow, ScoreRow, Store

from .test_html_report import synthetic_items

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "report.md"


def fixed_store(path: Path) -> Store:
    """A store filled from the synthetic items table, through the store's own API."""
    store = Store(path)
    store.set_meta("run", {"seed": 0})
    df = synthetic_items(seed=3, n=12)
    store.add_requests(RequestRow(r.key, r.model, r.model_revision, r.profile, r.suite, r.domain,
                                  r.verifiable, r.group, r.item_id, r.mode, r.sample, "prompt", "",
                                  '{"temperature": 0.6, "top_p": 0.95, "top_k": -1, "max_tokens": 256, '
                                  '"seed": 0}', r.reference, "[]") for r in df.itertuples())
    store.put_generations(GenerationRow(r.key, "hf", "text", r.reasoning, r.answer, r.think_state,
                                        r.think_blocks, r.finish_reason, r.prompt_tokens, r.completion_tokens,
                                        r.reasoning_tokens, r.answer_tokens, r.latency_s, None)
                          for r in df.itertuples())
    store.put_scores(ScoreRow(r.key, r.scorer, "1", r.score, r.passed, "ok", r.detail) for r in df.itertuples())
    return store


def test_markdown_report_matches_golden_file(tmp_path):
    store = fixed_store(tmp_path / "run")
    md = write_outputs(store).read_text(encoding="utf-8")
    if os.environ.get("THINKGATE_UPDATE_GOLDEN"):
        GOLDEN.write_text(md, encoding="utf-8")
    assert md == GOLDEN.read_text(encoding="utf-8")
