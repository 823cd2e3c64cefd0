"""The run store on its own: rows by name, schema upgrades, the folder lock, failed writes."""

import json
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from thinkgate.harness.errors import UserError
from thinkgate.harness.store import (DB_NAME, SCHEMA_VERSION, GenerationRow, RequestRow, ScoreRow, Store,
                                     StoreBusyError, StoreWriteError)
from thinkgate.tasks.types import Score, Status

SAMPLING = '{"temperature": 0.6, "top_p": 0.95, "top_k": -1, "min_p": 0.0, "max_tokens": 64, "seed": 7}'


def request(key="k1", **kw):
    base = dict(key=key, model="m", model_revision="r", profile="generic", suite="gsm8k", domain="math",
                verifiable=True, grp="g", item_id=f"gsm8k/{key}", mode="no_think", sample=0, prompt="p",
                prefill="", sampling=SAMPLING, reference='"18"', messages="[]")
    return RequestRow(**{**base, **kw})


def generation(key="k1", **kw):
    base = dict(key=key, backend="scripted", text="t", reasoning="why", answer="18", think_state="closed",
                think_blocks=1, finish_reason="stop", prompt_tokens=11, completion_tokens=12,
                reasoning_tokens=5, answer_tokens=7, latency_s=0.25, error=None)
    return GenerationRow(**{**base, **kw})


def score(key="k1", **kw):
    base = dict(key=key, scorer="math_verify", scorer_version="1", value=1.0, passed=True, status="ok",
                detail='{"extracted": "18"}')
    return ScoreRow(**{**base, **kw})


def test_every_field_lands_in_its_own_column(tmp_path):
    with Store(tmp_path) as store:
        store.add_requests([request()])
        store.put_generations([generation(leaked_think=True)])
        store.put_scores([score()])
        row = store.items().iloc[0]
        db = store.db
        db.row_factory = sqlite3.Row
        stored = dict(db.execute("SELECT * FROM generations").fetchone())
    for name, value in vars(generation(leaked_think=True)).items():
        assert stored[name] == value, name
    assert (row["prompt_tokens"], row["completion_tokens"], row["reasoning_tokens"], row["answer_tokens"]) == (11, 12, 5, 7)
    assert (row["reasoning"], row["answer"], row["latency_s"], row["leaked_think"]) == ("why", "18", 0.25, True)
    assert (row["group"], row["item_id"], row["seed"], row["score"], row["extracted"]) == ("g", "gsm8k/k1", 7, 1.0, "18")


def test_leaked_think_defaults_to_false_and_pending_rows_read_false(tmp_path):
    with Store(tmp_path) as store:
        store.add_requests([request("k1"), request("k2")])
        store.put_generations([generation("k1")])
        items = store.items().set_index("key")
    assert items["leaked_think"].dtype == bool and not items["leaked_think"].any()
    assert items.loc["k2", "status"] == Status.PENDING and items.loc["k1", "status"] == "unscored"


def test_status_is_one_enum_shared_with_scores(tmp_path):
    assert Score("s", 1.0).status is Status.OK and Status.OK == "ok"
    assert Score("s", None, None, "data_error").status is Status.DATA_ERROR
    with pytest.raises(ValueError, match="not one of ok, data_error, score_error"):
        Score("s", None, None, "pending")  # a scorer cannot say a request is pending
    with Store(tmp_path) as store:
        store.add_requests([request("k1"), request("k2"), request("k3")])
        store.put_generations([generation("k1"), generation("k2"), generation("k3", finish_reason="error")])
        store.put_scores([score("k1"), score("k2", status=Status.SCORE_ERROR, value=None, passed=None)])
        statuses = dict(zip(*store.items()[["key", "status"]].T.values))
    assert statuses == {"k1": "ok", "k2": "score_error", "k3": "error"}
    assert all(type(s) is str for s in statuses.values())  # plain strings in the table


def test_add_requests_is_idempotent_and_counts_only_new(tmp_path):
    with Store(tmp_path) as store:
        assert store.add_requests([request("a"), request("b")]) == 2
        assert store.add_requests([request("a"), request("b"), request("c")]) == 1
        assert store.counts()["requests"] == 3


def test_to_score_rescores_only_what_the_current_scorer_did_not_grade(tmp_path):
    with Store(tmp_path) as store:
        store.add_requests([request("a"), request("b"), request("c"), request("x", suite="other")])
        store.put_generations([generation("a"), generation("b"), generation("c", finish_reason="error"),
                               generation("x")])
        store.put_scores([score("a"), score("b", scorer_version="0")])
        todo = store.to_score({"gsm8k": ("math_verify", "1")})
    assert [r["key"] for r in todo] == ["b"]  # a is current, c failed, x's suite was not asked
    assert todo[0]["reference"] == "18" and todo[0]["answer"] == "18"


# -- schema versions ---------------------------------------------------------------

OLD_SCHEMA_2 = """
CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE requests (
  key TEXT PRIMARY KEY, model TEXT, model_revision TEXT, profile TEXT,
  suite TEXT, domain TEXT, verifiable INTEGER, grp TEXT, item_id TEXT,
  mode TEXT, sample INTEGER, prompt TEXT, prefill TEXT, sampling TEXT, reference TEXT,
  messages TEXT, created REAL);
CREATE TABLE generations (
  key TEXT PRIMARY KEY REFERENCES requests(key), backend TEXT, text TEXT,
  reasoning TEXT, answer TEXT, think_state TEXT, think_blocks INTEGER, finish_reason TEXT,
  prompt_tokens INTEGER, completion_tokens INTEGER, reasoning_tokens INTEGER,
  answer_tokens INTEGER, latency_s REAL, error TEXT, created REAL);
CREATE TABLE judgments (
  key TEXT PRIMARY KEY, judge_model TEXT, suite TEXT, domain TEXT, item_id TEXT, sample INTEGER,
  order_ TEXT, key_a TEXT, key_b TEXT, mode_a TEXT, mode_b TEXT, judge_text TEXT,
  verdict TEXT, winner TEXT, error TEXT, created REAL);
CREATE TABLE scores (
  key TEXT PRIMARY KEY REFERENCES requests(key), scorer TEXT, scorer_version TEXT,
  value REAL, passed INTEGER, status TEXT, detail TEXT, created REAL);
"""


def old_store(path, version=2, schema=OLD_SCHEMA_2):
    """A store file as thinkgate wrote it before schema 3 (positional inserts, no leaked_think)."""
    path.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path / DB_NAME)
    db.executescript(schema)
    if version is not None:
        db.execute("INSERT INTO meta VALUES (?, ?)", ("schema_version", json.dumps(version)))
    db.execute("INSERT INTO requests VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
               ("k1", "m", "r", "generic", "gsm8k", "math", 1, "g", "gsm8k/0", "think", 0, "p", "",
                SAMPLING, '"18"', "[]", 0.0))
    db.execute("INSERT INTO generations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
               ("k1", "hf", "t", "why", "18", "closed", 1, "stop", 11, 12, 5, 7, 0.25, None, 0.0))
    db.execute("INSERT INTO scores VALUES (?,?,?,?,?,?,?,?)",
               ("k1", "math_verify", "1", 1.0, 1, "ok", "{}", 0.0))
    db.commit()
    db.close()


@pytest.mark.parametrize("version", [2, None])  # None: a store from before versions, same tables
def test_an_older_store_is_upgraded_in_place_and_keeps_its_rows(tmp_path, version):
    old_store(tmp_path, version)
    with Store(tmp_path) as store:
        assert store.get_meta("schema_version") == SCHEMA_VERSION
        assert store.get_meta("migrated_from_schema") == (version or 1)
        assert store.done_keys() == {"k1"}
        row = store.items().iloc[0]
        assert (row["answer"], row["answer_tokens"], row["score"], row["leaked_think"]) == ("18", 7, 1.0, False)
        store.add_requests([request("k2")])
        store.put_generations([generation("k2", leaked_think=True)])
        assert store.items().set_index("key").loc["k2", "leaked_think"]
    with Store(tmp_path) as again:  # the second open finds schema 3 and changes nothing
        assert again.get_meta("schema_version") == SCHEMA_VERSION and again.counts()["generations"] == 2


def test_a_store_too_old_to_upgrade_says_how_to_go_on(tmp_path):
    older = OLD_SCHEMA_2.replace("reference TEXT,\n  messages TEXT,", "reference TEXT,")
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.executescript(older)
    conn.execute("INSERT INTO requests (key) VALUES ('k1')")
    conn.commit()
    conn.close()
    with pytest.raises(UserError, match=r"store schema 1, without requests.messages.*new --out"):
        Store(tmp_path)
    with pytest.raises(UserError, match="cannot be upgraded"):  # not "in use": the refusal freed the folder
        Store(tmp_path)


def test_a_store_from_a_newer_thinkgate_is_refused(tmp_path):
    old_store(tmp_path, version=SCHEMA_VERSION + 1)
    with pytest.raises(UserError, match="newer thinkgate.*upgrade thinkgate"):
        Store(tmp_path)


# -- one writer per folder --------------------------------------------------------------

def test_a_second_store_on_the_same_folder_is_refused_until_the_first_closes(tmp_path):
    first = Store(tmp_path)
    with pytest.raises(StoreBusyError, match="already open in this process"):
        Store(tmp_path)
    first.close()
    Store(tmp_path).close()


def test_another_process_holding_the_folder_is_named_and_never_interleaved(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from thinkgate.harness.store import Store
            s = Store({str(tmp_path)!r})
            print("held", flush=True)
            sys.stdin.readline()
            s.close()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreBusyError, match=rf"in use by another thinkgate process \(pid {holder.pid}\).*--out"):
            Store(tmp_path)
    finally:
        holder.communicate("\n", timeout=60)
    with Store(tmp_path) as store:  # released on close
        assert store.counts()["requests"] == 0


def test_a_killed_holder_frees_the_folder(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", f"from thinkgate.harness.store import Store; "
                               f"s = Store({str(tmp_path)!r}); print('held', flush=True); import time; time.sleep(600)"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait(timeout=60)
    Store(tmp_path).close()


# -- a write that fails --------------------------------------------------------------

def test_a_full_disk_stops_with_a_clear_message_and_the_store_stays_intact(tmp_path):
    store = Store(tmp_path)
    store.add_requests([request(f"k{i}") for i in range(3)])
    store.put_generations([generation("k0")])
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is now full
    big = "x" * 200_000
    with pytest.raises(StoreWriteError, match=r"disk is full.*rolled back.*re-run the same command to resume"):
        store.put_generations([generation("k1", text=big), generation("k2", text=big)])
    assert isinstance(StoreWriteError("x"), UserError)
    store.close()
    with Store(tmp_path) as again:
        assert again.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert again.done_keys() == {"k0"}  # the failed batch is all gone, the earlier one all there
        again.put_generations([generation("k1"), generation("k2")])
        assert again.done_keys() == {"k0", "k1", "k2"}


def test_to_score_finds_a_score_from_another_suites_scorer(tmp_path):
    with Store(tmp_path) as store:
        store.add_requests([request("a"), request("b"), request("x", suite="other")])
        store.put_generations([generation("a"), generation("b"), generation("x")])
        store.put_scores([score("a"), score("b", scorer="exact"), score("x", scorer="exact")])
        todo = store.to_score({"gsm8k": ("math_verify", "1"), "other": ("exact", "1")})
        assert [r["key"] for r in todo] == ["b"]
        assert {r["key"] for r in store.to_score({"other": ("exact", "2")})} == {"x"}
