"""`--backend openai --judge NAME`: the judge of a served run is a served model. A scripted
OpenAI-compatible server records what reaches it; the judge's requests must be among them."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")

from fastapi import FastAPI, Request  # noqa: E402

from thinkgate.harness.backends import EngineConfig  # noqa: E402
from thinkgate.harness.config import RunConfig  # noqa: E402
from thinkgate.harness.proxy import background_server  # noqa: E402
from thinkgate.harness.runner import evaluate  # noqa: E402
from thinkgate.harness.store import Store  # noqa: E402


def scripted_server(seen: list[dict]) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        seen.append(body)
        judging = "[Answer A]" in body["messages"][-1]["content"]
        text = "A" if judging else "A short title"
        return {"id": "x", "object": "chat.completion", "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}}

    return app


def test_served_run_judges_through_the_server(tmp_path):
    seen: list[dict] = []
    with background_server(scripted_server(seen)) as url:
        cfg = RunConfig(out=str(tmp_path / "run"), model="served-model", backend="openai",
                        suites=("abstract2title",), modes=("think", "no_think"), limit=2, max_tokens=16,
                        judge="judge-model", engine=EngineConfig(base_urls=(f"{url}/v1",)))
        result = evaluate(cfg, progress=False)
    assert result.errors == 0 and result.planned == 4
    judged = [b for b in seen if b["model"] == "judge-model"]
    assert len(judged) == 4  # 2 items x both orders
    assert all("[Answer A]" in b["messages"][-1]["content"] and b["temperature"] == 0.0 for b in judged)
    assert len([b for b in seen if b["model"] == "served-model"]) == 4
    store = Store(cfg.out)
    try:
        verdicts = store.judgments()
    finally:
        store.close()
    assert len(verdicts) == 4 and set(verdicts["verdict"]) == {"A"}
    saved = (tmp_path / "run" / "config.toml").read_text()
    assert 'judge = "judge-model"' in saved and "served-model" in saved
    assert json.loads(json.dumps(RunConfig.from_file(tmp_path / "run" / "config.toml").to_dict())) == cfg.to_dict()
