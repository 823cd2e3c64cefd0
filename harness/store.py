"""The run store: one SQLite file per run directory (WAL, one transaction per batch).

Tables: `requests` (one row per item x mode x sample, keyed by the request key),
`generations` (the parsed model output of a request), `scores` (the graded answer),
`meta` (what the run was asked to do). Re-running a command resumes: a request with a
non-error generation is done and is never generated again; a kill -9 loses at most
the batch in flight. `items()` joins the three tables into the items table.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

DB_NAME = "thinkgate.sqlite"
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
  key TEXT PRIMARY KEY, model TEXT, model_revision TEXT, profile TEXT,
  suite TEXT, domain TEXT, verifiable INTEGER, grp TEXT, item_id TEXT,
  mode TEXT, sample INTEGER, prompt TEXT, prefill TEXT, sampling TEXT, reference TEXT,
  messages TEXT, created REAL);
CREATE TABLE IF NOT EXISTS generations (
  key TEXT PRIMARY KEY REFERENCES requests(key), backend TEXT, text TEXT,
  reasoning TEXT, answer TEXT, think_state TEXT, think_blocks INTEGER, finish_reason TEXT,
  prompt_tokens INTEGER, completion_tokens INTEGER, reasoning_tokens INTEGER,
  answer_tokens INTEGER, latency_s REAL, error TEXT, created REAL);
CREATE TABLE IF NOT EXISTS judgments (
  key TEXT PRIMARY KEY, judge_model TEXT, suite TEXT, domain TEXT, item_id TEXT, sample INTEGER,
  order_ TEXT, key_a TEXT, key_b TEXT, mode_a TEXT, mode_b TEXT, judge_text TEXT,
  verdict TEXT, winner TEXT, error TEXT, created REAL);
CREATE TABLE IF NOT EXISTS scores (
  key TEXT PRIMARY KEY REFERENCES requests(key), scorer TEXT, scorer_version TEXT,
  value REAL, passed INTEGER, status TEXT, detail TEXT, created REAL);
"""


@dataclass(frozen=True)
class RequestRow:
    key: str
    model: str
    model_revision: str
    profile: str
    suite: str
    domain: str
    verifiable: bool
    grp: str
    item_id: str
    mode: str
    sample: int
    prompt: str
    prefill: str
    sampling: str  # JSON
    reference: str  # JSON
    messages: str  # JSON: the item's chat before the profile touched it


@dataclass(frozen=True)
class GenerationRow:
    key: str
    backend: str
    text: str
    reasoning: str
    answer: str
    think_state: str
    think_blocks: int
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    answer_tokens: int
    latency_s: float
    error: str | None


@dataclass(frozen=True)
class ScoreRow:
    key: str
    scorer: str
    scorer_version: str
    value: float | None
    passed: bool | None
    status: str
    detail: str  # JSON


class Store:
    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / DB_NAME
        self.db = sqlite3.connect(self.path, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        found = self.get_meta("schema_version")
        if found is None and not self.db.execute("SELECT 1 FROM requests LIMIT 1").fetchone():
            self.set_meta("schema_version", SCHEMA_VERSION)
        elif found != SCHEMA_VERSION:
            self.db.close()
            from thinkgate.harness.errors import UserError

            raise UserError(f"{self.path} was written by another thinkgate version (store schema "
                            f"{found or 1}, this one reads {SCHEMA_VERSION}); pass a new --out")

    # -- meta ---------------------------------------------------------------
    def get_meta(self, k: str) -> Any:
        row = self.db.execute("SELECT v FROM meta WHERE k=?", (k,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, k: str, v: Any) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (k, json.dumps(v)))

    # -- writes (one transaction per batch) ------------------------------------
    def add_requests(self, rows: Iterable[RequestRow]) -> int:
        now = time.time()
        with self.db:
            cur = self.db.executemany(
                "INSERT OR IGNORE INTO requests VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [tuple(asdict(r).values()) + (now,) for r in rows])
        return cur.rowcount

    def put_generations(self, rows: Iterable[GenerationRow]) -> None:
        """Write a batch; a retried request replaces its earlier error, and its stale score goes."""
        rows = list(rows)
        now = time.time()
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO generations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [tuple(asdict(r).values()) + (now,) for r in rows])
            self.db.executemany("DELETE FROM scores WHERE key=?", [(r.key,) for r in rows])

    def put_scores(self, rows: Iterable[ScoreRow]) -> None:
        now = time.time()
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?,?,?)",
                                [tuple(asdict(r).values()) + (now,) for r in rows])

    def put_judgments(self, rows: Iterable[dict[str, Any]]) -> None:
        cols = ("key", "judge_model", "suite", "domain", "item_id", "sample", "order_", "key_a", "key_b",
                "mode_a", "mode_b", "judge_text", "verdict", "winner", "error")
        now = time.time()
        with self.db:
            self.db.executemany(f"INSERT OR REPLACE INTO judgments VALUES ({','.join('?' * (len(cols) + 1))})",
                                [tuple(r[c] for c in cols) + (now,) for r in rows])

    def judged_keys(self) -> set[str]:
        return {k for (k,) in self.db.execute("SELECT key FROM judgments WHERE error IS NULL")}

    def judgments(self) -> pd.DataFrame:
        df = pd.read_sql_query("SELECT * FROM judgments ORDER BY suite, item_id, sample, order_", self.db)
        return df.rename(columns={"order_": "order"})

    # -- reads --------------------------------------------------------------
    def done_keys(self) -> set[str]:
        """Requests with a usable generation (errors are retried on the next run)."""
        rows = self.db.execute("SELECT key FROM generations WHERE finish_reason != 'error'")
        return {k for (k,) in rows}

    def to_score(self, scorers: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
        """Generations with no score from the suite's current scorer (name, version)."""
        q = """SELECT r.key, r.suite, r.item_id, r.reference, g.answer, g.think_state,
                      s.scorer, s.scorer_version
               FROM generations g JOIN requests r USING (key) LEFT JOIN scores s USING (key)
               WHERE g.finish_reason != 'error'"""
        out = []
        for key, suite, item_id, ref, answer, state, scorer, version in self.db.execute(q):
            want = scorers.get(suite)
            if want is not None and (scorer, version) != want:
                out.append({"key": key, "suite": suite, "item_id": item_id,
                            "reference": json.loads(ref), "answer": answer, "think_state": state})
        return out

    def counts(self) -> dict[str, int]:
        one = lambda q: self.db.execute(q).fetchone()[0]  # noqa: E731
        return {"requests": one("SELECT COUNT(*) FROM requests"),
                "generations": one("SELECT COUNT(*) FROM generations WHERE finish_reason != 'error'"),
                "errors": one("SELECT COUNT(*) FROM generations WHERE finish_reason = 'error'"),
                "scores": one("SELECT COUNT(*) FROM scores")}

    def items(self) -> pd.DataFrame:
        """The items table: one row per request, generation and score joined (columns: README, "Reading the report")."""
        q = """SELECT r.model, r.model_revision, r.profile, r.suite, r.domain, r.verifiable,
                      r.grp AS "group", r.item_id, r.mode, r.sample, r.key, r.prompt, r.prefill,
                      r.messages, r.reference, r.sampling, g.backend, g.reasoning, g.answer, g.think_state, g.think_blocks,
                      g.finish_reason, g.prompt_tokens, g.completion_tokens, g.reasoning_tokens,
                      g.answer_tokens, g.latency_s, g.error, s.scorer, s.value AS score,
                      s.passed, s.status AS score_status, s.detail
               FROM requests r LEFT JOIN generations g USING (key) LEFT JOIN scores s USING (key)
               ORDER BY r.suite, r.item_id, r.mode, r.sample"""
        df = pd.read_sql_query(q, self.db)
        df["verifiable"] = df["verifiable"].astype(bool)
        df["passed"] = df["passed"].map(lambda v: None if pd.isna(v) else bool(v))
        df["status"] = [_status(f, s) for f, s in zip(df["finish_reason"], df["score_status"])]
        detail = df["detail"].map(lambda d: json.loads(d) if isinstance(d, str) else {})
        df["extracted"] = detail.map(lambda d: d.get("extracted"))
        sampling = df.pop("sampling").map(json.loads)
        for k in ("temperature", "top_p", "top_k", "max_tokens", "seed"):
            df[k] = sampling.map(lambda s: s.get(k))
        return df

    def close(self) -> None:
        self.db.close()


def _status(finish_reason: Any, score_status: Any) -> str:
    """ok | error (the request failed) | data_error (the item's reference is bad) | pending."""
    if finish_reason == "error":
        return "error"
    if not isinstance(finish_reason, str):
        return "pending"
    if not isinstance(score_status, str):
        return "unscored"
    return score_status
