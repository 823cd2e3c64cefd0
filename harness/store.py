"""The run store: one SQLite file per run directory (WAL, one transaction per batch).

Tables: `requests` (one row per item x mode x sample, keyed by the request key),
`generations` (the parsed model output of a request), `scores` (the graded answer),
`judgments` (pairwise verdicts), `meta` (what the run was asked to do, the schema
version). Re-running a command resumes: a request with a non-error generation is done
and is never generated again; a kill -9 loses at most the batch in flight. `items()`
joins the tables into the items table.

Rows are written by column name (`:name` parameters built from the row dataclasses'
fields), so a field added or moved in a dataclass can never shift a column. One process
writes a run folder at a time: a Store holds an exclusive `flock` on the folder's
`thinkgate.lock` until `close()`, and a second one is refused. A write that fails (a full
disk) rolls its batch back and raises StoreWriteError: the store keeps every earlier
batch, and re-running the command resumes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pandas as pd

from thinkgate.harness.errors import UserError
from thinkgate.tasks.types import Status

try:  # POSIX; elsewhere a run folder is not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

DB_NAME = "thinkgate.sqlite"
LOCK_NAME = "thinkgate.lock"
SCHEMA_VERSION = 4  # 3: generations.leaked_think; 4: the budget audit columns

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
  answer_tokens INTEGER, latency_s REAL, error TEXT, created REAL,
  leaked_think INTEGER NOT NULL DEFAULT 0,
  budget INTEGER, budget_mechanism TEXT, closed_by TEXT, budget_held INTEGER);
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
    leaked_think: bool = False  # a no_think answer that still holds thinking (mode compliance)
    # budget:N arms (harness/budget.py): N, how it was enforced, who closed the thinking
    # (model | forced | eos), and whether the thinking stayed within N (+ BUDGET_TOLERANCE)
    budget: int | None = None
    budget_mechanism: str | None = None
    closed_by: str | None = None
    budget_held: bool | None = None


@dataclass(frozen=True)
class ScoreRow:
    key: str
    scorer: str
    scorer_version: str
    value: float | None
    passed: bool | None
    status: str  # a Status value: ok | data_error | score_error
    detail: str  # JSON


JUDGMENT_COLUMNS = ("key", "judge_model", "suite", "domain", "item_id", "sample", "order_", "key_a",
                    "key_b", "mode_a", "mode_b", "judge_text", "verdict", "winner", "error")


def _insert_sql(table: str, columns: Iterable[str], verb: str = "INSERT OR REPLACE") -> str:
    """_insert_sql("t", ["a", "b"]) -> "INSERT OR REPLACE INTO t (a, b, created) VALUES (:a, :b, :created)"."""
    cols = [*columns, "created"]
    return f"{verb} INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"


def _columns(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


_REQUEST_COLS, _GENERATION_COLS, _SCORE_COLS = _columns(RequestRow), _columns(GenerationRow), _columns(ScoreRow)
_INSERT_REQUEST = _insert_sql("requests", _REQUEST_COLS, "INSERT OR IGNORE")
_INSERT_GENERATION = _insert_sql("generations", _GENERATION_COLS)
_INSERT_SCORE = _insert_sql("scores", _SCORE_COLS)
# generations columns added after schema 2, with their SQL type: an older store gets them
_ADDED_COLS = {"leaked_think": "INTEGER NOT NULL DEFAULT 0", "budget": "INTEGER", "budget_mechanism": "TEXT",
               "closed_by": "TEXT", "budget_held": "INTEGER"}
_INSERT_JUDGMENT = _insert_sql("judgments", JUDGMENT_COLUMNS)


def _named(row: Any, columns: tuple[str, ...], now: float) -> dict[str, Any]:
    """A row dataclass as `:name` parameters (plus `created`)."""
    out = {c: getattr(row, c) for c in columns}
    out["created"] = now
    return out


class StoreWriteError(UserError):
    """A batch could not be written (disk full, I/O error); it was rolled back."""


class StoreBusyError(UserError):
    """Another Store (another process, or another object here) holds the run folder."""


class Store:
    """A run folder's store. Holds the folder's lock until `close()` (or use `with Store(d) as s:`).
    Safe to share between the threads of one process (the scoring workers write here too)."""

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / DB_NAME
        self._mu = threading.RLock()
        self._lock_file = _lock_folder(self.dir)
        self.db: sqlite3.Connection | None = None
        try:
            self.db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
            self._check_schema()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # a store dropped without close() still frees the folder
        try:
            self.close()
        except Exception:
            pass

    # -- schema -------------------------------------------------------------
    def _check_schema(self) -> None:
        found = self.get_meta("schema_version")
        if found is None:
            if not self.db.execute("SELECT 1 FROM requests LIMIT 1").fetchone():
                self.set_meta("schema_version", SCHEMA_VERSION)  # a new store
                return
            found = 1  # written before stores carried a version
        if found > SCHEMA_VERSION:
            raise UserError(f"{self.path} was written by a newer thinkgate (store schema {found}, this one "
                            f"reads up to {SCHEMA_VERSION}); upgrade thinkgate (`pip install -U thinkgate`), "
                            "or pass a new --out")
        if found < SCHEMA_VERSION:
            self._migrate(found)

    def _migrate(self, found: int) -> None:
        """Upgrade an older store in place, in one transaction (all or nothing)."""
        have = {t: {c for (_, c, *_) in self.db.execute(f"PRAGMA table_info({t})")}
                for t in ("requests", "generations", "scores")}
        missing = sorted({f"requests.{c}" for c in _REQUEST_COLS if c not in have["requests"]}
                         | {f"scores.{c}" for c in _SCORE_COLS if c not in have["scores"]}
                         | {f"generations.{c}" for c in _GENERATION_COLS
                            if c not in have["generations"] and c not in _ADDED_COLS})
        if missing:
            raise UserError(f"{self.path} was written by an early thinkgate (store schema {found}, without "
                            f"{', '.join(missing)}) and cannot be upgraded in place; re-run the command "
                            "with a new --out (the old folder's items.csv stays readable)")
        with self._tx() as db:
            db.execute("BEGIN IMMEDIATE")
            for col, decl in _ADDED_COLS.items():  # old rows: not measured (False / NULL)
                if col not in have["generations"]:
                    db.execute(f"ALTER TABLE generations ADD COLUMN {col} {decl}")
            db.execute("INSERT OR REPLACE INTO meta VALUES (:k, :v)",
                       {"k": "schema_version", "v": json.dumps(SCHEMA_VERSION)})
            db.execute("INSERT OR REPLACE INTO meta VALUES (:k, :v)",
                       {"k": "migrated_from_schema", "v": json.dumps(found)})

    # -- meta ---------------------------------------------------------------
    def get_meta(self, k: str) -> Any:
        with self._mu:
            row = self.db.execute("SELECT v FROM meta WHERE k = :k", {"k": k}).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, k: str, v: Any) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (:k, :v)", {"k": k, "v": json.dumps(v)})

    # -- writes (one transaction per batch) ------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction; a failed write rolls back and stops the run with a clear message."""
        with self._mu:
            if self.db is None:
                raise StoreWriteError(f"the store of {self.dir} is closed; open it again to write")
            try:
                with self.db:
                    yield self.db
            except sqlite3.OperationalError as e:
                raise StoreWriteError(
                    f"could not write to {self.path} ({e}); the batch was rolled back and every earlier "
                    "one is intact: free disk space (or fix the folder's permissions), then re-run the "
                    "same command to resume") from e

    def add_requests(self, rows: Iterable[RequestRow]) -> int:
        """Add the requests the store does not have yet; return how many were new."""
        rows = list(rows)
        now = time.time()
        with self._tx() as db:
            have = {k for (k,) in db.execute("SELECT key FROM requests")}
            new = [r for r in rows if r.key not in have]
            db.executemany(_INSERT_REQUEST, [_named(r, _REQUEST_COLS, now) for r in new])
        return len(new)

    def put_generations(self, rows: Iterable[GenerationRow]) -> None:
        """Write a batch; a retried request replaces its earlier error, and its stale score goes."""
        rows = list(rows)
        now = time.time()
        with self._tx() as db:
            db.executemany(_INSERT_GENERATION, [_named(r, _GENERATION_COLS, now) for r in rows])
            db.executemany("DELETE FROM scores WHERE key = :key", [{"key": r.key} for r in rows])

    def put_scores(self, rows: Iterable[ScoreRow]) -> None:
        rows = list(rows)
        now = time.time()
        with self._tx() as db:
            db.executemany(_INSERT_SCORE, [_named(r, _SCORE_COLS, now) for r in rows])

    def put_judgments(self, rows: Iterable[dict[str, Any]]) -> None:
        """Rows are dicts with the JUDGMENT_COLUMNS keys (extra keys are ignored)."""
        now = time.time()
        params = [{**{c: r[c] for c in JUDGMENT_COLUMNS}, "created": now} for r in rows]
        with self._tx() as db:
            db.executemany(_INSERT_JUDGMENT, params)

    # -- reads --------------------------------------------------------------
    def _query(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        with self._mu:
            return self.db.execute(sql, params or {}).fetchall()

    def judged_keys(self) -> set[str]:
        return {k for (k,) in self._query("SELECT key FROM judgments WHERE error IS NULL")}

    def judgments(self) -> pd.DataFrame:
        with self._mu:
            df = pd.read_sql_query("SELECT * FROM judgments ORDER BY suite, item_id, sample, order_", self.db)
        return df.rename(columns={"order_": "order"})

    def done_keys(self) -> set[str]:
        """Requests with a usable generation (errors are retried on the next run). One query:
        call it once per run, never per request."""
        return {k for (k,) in self._query("SELECT key FROM generations WHERE finish_reason != 'error'")}

    def to_score(self, scorers: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
        """Generations with no score from their suite's current scorer ({suite: (name, version)});
        suites not named are left alone. Each: key, suite, item_id, reference, answer, think_state.

        Two cheap queries instead of a join over every row: the generations with no score at
        all, then the scores whose (scorer, version) some named suite does not want, joined to
        their requests only when such a pair exists (a new scorer version, a renamed scorer)."""
        if not scorers:
            return []
        cols = "r.key, r.suite, r.item_id, r.reference, g.answer, g.think_state"
        suites = {f"s{i}": suite for i, suite in enumerate(scorers)}
        in_suites = f"r.suite IN ({', '.join(':' + k for k in suites)})"
        # CROSS JOIN keeps generations the outer loop: requests are looked up only for the unscored
        rows = self._query(f"""SELECT {cols} FROM generations g LEFT JOIN scores s ON s.key = g.key
                                   CROSS JOIN requests r ON r.key = g.key
                               WHERE g.finish_reason != 'error' AND s.key IS NULL AND {in_suites}""", suites)
        for name, version in self._query("SELECT DISTINCT scorer, scorer_version FROM scores"):
            stale = {f"s{i}": suite for i, (suite, want) in enumerate(scorers.items()) if want != (name, version)}
            if not stale:
                continue
            rows += self._query(f"""SELECT {cols} FROM scores s JOIN generations g ON g.key = s.key
                                        JOIN requests r ON r.key = s.key
                                    WHERE s.scorer IS :name AND s.scorer_version IS :version
                                      AND g.finish_reason != 'error'
                                      AND r.suite IN ({', '.join(':' + k for k in stale)})""",
                                {"name": name, "version": version, **stale})
        names = ("key", "suite", "item_id", "reference", "answer", "think_state")
        out = [dict(zip(names, row)) for row in rows]
        for row in out:
            row["reference"] = json.loads(row["reference"])
        return out

    def counts(self) -> dict[str, int]:
        one: Callable[[str], int] = lambda q: self._query(q)[0][0]  # noqa: E731
        return {"requests": one("SELECT COUNT(*) FROM requests"),
                "generations": one("SELECT COUNT(*) FROM generations WHERE finish_reason != 'error'"),
                "errors": one("SELECT COUNT(*) FROM generations WHERE finish_reason = 'error'"),
                "scores": one("SELECT COUNT(*) FROM scores")}

    def items(self) -> pd.DataFrame:
        """The items table: one row per request, generation and score joined (columns: README, "Reading the report")."""
        q = """SELECT r.model, r.model_revision, r.profile, r.suite, r.domain, r.verifiable,
                      r.grp AS "group", r.item_id, r.mode, r.sample, r.key, r.prompt, r.prefill,
                      r.messages, r.reference, r.sampling, g.backend, g.reasoning, g.answer, g.think_state, g.think_blocks,
                      g.leaked_think, g.budget, g.budget_mechanism, g.closed_by, g.budget_held, g.finish_reason, g.prompt_tokens, g.completion_tokens, g.reasoning_tokens,
                      g.answer_tokens, g.latency_s, g.error, s.scorer, s.value AS score,
                      s.passed, s.status AS score_status, s.detail
               FROM requests r LEFT JOIN generations g USING (key) LEFT JOIN scores s USING (key)
               ORDER BY r.suite, r.item_id, r.mode, r.sample"""
        with self._mu:
            df = pd.read_sql_query(q, self.db)
        df["verifiable"] = df["verifiable"].astype(bool)
        df["leaked_think"] = df["leaked_think"].fillna(0).astype(bool)
        df["budget_held"] = df["budget_held"].map(lambda v: None if pd.isna(v) else bool(v))
        df["closed_by"] = [c if isinstance(c, str) else _closed_by(t, f)
                           for c, t, f in zip(df["closed_by"], df["think_state"], df["finish_reason"])]
        df["passed"] = df["passed"].map(lambda v: None if pd.isna(v) else bool(v))
        df["status"] = [_status(f, s).value for f, s in zip(df["finish_reason"], df["score_status"])]
        detail = df["detail"].map(lambda d: json.loads(d) if isinstance(d, str) else {})
        df["extracted"] = detail.map(lambda d: d.get("extracted"))
        sampling = df.pop("sampling").map(json.loads)
        for k in ("temperature", "top_p", "top_k", "max_tokens", "seed"):
            df[k] = sampling.map(lambda s: s.get(k))
        return df

    def close(self) -> None:
        """Close the database and free the folder for the next process (idempotent)."""
        with self._mu:
            db, self.db = getattr(self, "db", None), None
            if db is not None:
                db.close()
            lock, self._lock_file = getattr(self, "_lock_file", None), None
            if lock is not None:
                lock.close()  # closing the descriptor releases the flock


def _lock_folder(run_dir: Path) -> Any:
    """Take the run folder's exclusive lock, or say who holds it. The lock file keeps the
    holder's pid (for the message); the lock itself is the flock, freed when its holder
    closes the file or dies (kill -9 included)."""
    if fcntl is None:  # pragma: no cover
        return None
    f = open(run_dir / LOCK_NAME, "a+", encoding="utf-8")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        holder = f.read().strip()
        f.close()
        if holder == str(os.getpid()):
            raise StoreBusyError(f"{run_dir} is already open in this process; close the other Store "
                                 "(Store.close()) before opening it again") from None
        who = f"another thinkgate process (pid {holder})" if holder else "another thinkgate process"
        raise StoreBusyError(f"{run_dir} is in use by {who}: two runs writing one folder would interleave. "
                             "Wait for it to finish (or stop it), then re-run to resume; or pass another --out") from None
    f.truncate(0)
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


def _closed_by(think_state: Any, finish_reason: Any) -> str | None:
    """Who ended the thinking of a generation no budget mechanism audited."""
    if think_state == "closed":
        return "model"
    if think_state == "unclosed":
        return "cut" if finish_reason == "length" else "eos"
    return None


def _status(finish_reason: Any, score_status: Any) -> Status:
    """A request's status from its generation's finish reason and its score's status:
    pending (no generation) | error (the request failed) | unscored | the score's own status."""
    if finish_reason == "error":
        return Status.ERROR
    if not isinstance(finish_reason, str):
        return Status.PENDING
    if not isinstance(score_status, str):
        return Status.UNSCORED
    return Status(score_status)
