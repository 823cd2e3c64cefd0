"""What the terminal shows: the results table of `thinkgate eval`, the router's metrics
tables, the progress bar, and `engine_log`, which sends engine noise to the run folder.

Tables are built from the numbers the report already computes (`reports.estimate`,
`router.evaluate`); nothing here computes a statistic. Undefined values print as "–".

    >>> _pct(0.4567), _pct(None), _ci(0.1, 0.25, _pct), _ci(0.1, float("nan"), _pct)
    ('45.7%', '–', '[10.0, 25.0]', '')
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import math
import os
import sys
import threading
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import pandas as pd
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table
from rich.text import Text

DASH = "–"
MODE_ORDER = ("think", "no_think", "default")  # then budget:N and the rest, by name
ENGINE_LOGGERS = ("vllm", "transformers", "torch")
ENGINE_LOG = "engine.log"


# ---------------------------------------------------------------- formatting

def _num_or_none(x: Any) -> float | None:
    """A finite float, or None for None / NaN / inf / anything that is not a number."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def _pct(x: Any) -> str:
    v = _num_or_none(x)
    return DASH if v is None else f"{100 * v:.1f}%"


def _pts(x: Any) -> str:
    """Signed points; a float error below the shown precision is no sign: -1e-17 -> '+0.0'."""
    v = _num_or_none(x)
    if v is None:
        return DASH
    v = 100 * v
    return f"{v if round(v, 1) else 0.0:+.1f}"


def _f2(x: Any) -> str:
    v = _num_or_none(x)
    return DASH if v is None else f"{v if round(v, 2) else 0.0:.2f}"


def _int(x: Any) -> str:
    v = _num_or_none(x)
    return DASH if v is None else f"{v:.0f}"


def _ci(lo: Any, hi: Any, fmt: Callable[[Any], str]) -> str:
    """'[lo, hi]' without the unit its value already shows, or '' when it is undefined."""
    if _num_or_none(lo) is None or _num_or_none(hi) is None:
        return ""
    return f"[{fmt(lo).rstrip('%')}, {fmt(hi).rstrip('%')}]"


def _with_ci(m: Mapping[str, Any], key: str, fmt: Callable[[Any], str], sep: str = "\n") -> str:
    """The value of `key` and, below it, its CI from `key_ci_low` / `key_ci_high`."""
    ci = _ci(m.get(f"{key}_ci_low"), m.get(f"{key}_ci_high"), fmt)
    return fmt(m.get(key)) + (sep + ci if ci else "")


def _mode_key(mode: str) -> tuple[int, str]:
    return (MODE_ORDER.index(mode) if mode in MODE_ORDER else len(MODE_ORDER), str(mode))


# ---------------------------------------------------------------- eval results

def results_table(items: pd.DataFrame, estimates: Mapping[str, Any] | None = None, seed: int = 0) -> Table:
    """lm-eval-style results of a run: one row per suite x mode (score with its 95% CI,
    items, K, mean reasoning tokens, unclosed thinking, errors), then one paired
    Δ row per suite and comparison (same items in both modes).

    `estimates` is `reports.estimate(items, seed)` when the caller already has it (or
    estimates.json read back); otherwise it is computed here from `items`.
    """
    from thinkgate.reports.estimates import estimate
    from thinkgate.reports.render import ci_methods_summary, decoding_summary

    est = estimates if estimates is not None else estimate(items, seed=seed)
    rows, paired = list(est.get("suites") or []), list(est.get("paired") or [])
    t = Table(title="Results", title_justify="left", header_style="bold")
    t.add_column("suite")
    t.add_column("mode")
    t.add_column("score [95% CI]", justify="right")
    t.add_column("n items", justify="right")
    t.add_column("K", justify="right")
    t.add_column("think tok", justify="right")
    t.add_column("truncated (unclosed)", justify="right")
    t.add_column("errors", justify="right")
    suites = sorted({r["suite"] for r in rows} | {p["suite"] for p in paired})
    for i, suite in enumerate(suites):
        if i:
            t.add_section()
        for r in sorted((r for r in rows if r["suite"] == suite), key=lambda r: _mode_key(r["mode"])):
            t.add_row(suite, r["mode"], f"{_pct(r.get('mean'))} {_ci(r.get('ci_low'), r.get('ci_high'), _pct)}".strip(),
                      _int(r.get("n_items")), _int(r.get("k")), _int(r.get("mean_reasoning_tokens")),
                      _pct(r.get("unclosed_think_rate")), _errors(r))
        for p in (p for p in paired if p["suite"] == suite):
            t.add_row(suite, f"Δ {p['a']} − {p['b']}", _delta(p), _int(p.get("n_items")), "", "", "", "")
    lines = ["score: mean over items of each item's mean over its K samples (percent); "
             f"95% CI: {ci_methods_summary({'suites': rows}) if rows else DASH}.",
             "Δ: paired difference on the same items, in points (green/red: resolved, i.e. the CI "
             "excludes 0 and the test rejects at 5%).",
             "think tok: mean reasoning tokens per generation; truncated: thinking never closed (answer "
             "empty, scored 0); errors: failed requests (excluded, not scored as wrong)."]
    if rows:
        lines.append(f"decoding: {decoding_summary({'suites': rows})}")
    else:
        lines.append("no scored items yet")
    t.caption, t.caption_justify = "\n".join(lines), "left"
    return t


def _errors(r: Mapping[str, Any]) -> Text:
    n, data = int(r.get("errors") or 0), int(r.get("data_errors") or 0)
    text = str(n) + (f" (+{data} data)" if data else "")
    return Text(text, style="bold red" if n or data else "")


def _delta(p: Mapping[str, Any]) -> Text:
    from thinkgate.reports.headline import direction

    safe = {k: (v if _num_or_none(v) is not None else math.nan) if k in ("ci_low", "ci_high") else v
            for k, v in p.items()}
    d = direction(safe)
    text = f"{_pts(p.get('diff'))} pts {_ci(p.get('ci_low'), p.get('ci_high'), _pts)}".strip()
    return Text(text, style="bold green" if d > 0 else "bold red" if d < 0 else "")


# ---------------------------------------------------------------- router tables

def _flat(m: Mapping[str, Any]) -> dict[str, Any]:
    """One table row from either shape the router writes: a nested `dataset_metrics` result
    (router / never / always / oracle / classification) or a flat `domain_row`."""
    if "router" not in m:  # domain_row (per_domain, leave_one_domain_out) or an empty result
        return dict(m)
    r = m.get("router") or {}
    at = r.get("at_threshold") or {}
    out = {k: v for k, v in r.items() if k != "at_threshold"}
    for k in ("think_rate", "mean_score", "mean_score_ci_low", "mean_score_ci_high",
              "vs_random", "vs_random_ci_low", "vs_random_ci_high"):
        out[k] = at.get(k)
    out["n_items"] = m.get("n_items")
    for name in ("never", "always", "oracle"):
        out[f"{name}_mean_score"] = (m.get(name) or {}).get("mean_score")
    out["roc_auc"] = (m.get("classification") or {}).get("roc_auc")
    return out


_METRIC_COLUMNS: tuple[tuple[str, Callable[[Mapping[str, Any]], str]], ...] = (
    ("n\nitems", lambda f: _int(f.get("n_items"))),
    ("AUC", lambda f: _with_ci(f, "auc", _f2)),
    ("APGR", lambda f: _with_ci(f, "apgr", _f2)),
    ("CPT\n(50%)", lambda f: _with_ci(f, "cpt50", _pct)),
    ("CPT\n(80%)", lambda f: _with_ci(f, "cpt80", _pct)),
    ("think\nrate", lambda f: _pct(f.get("think_rate"))),
    ("score at\nthreshold", lambda f: _with_ci(f, "mean_score", _pct)),
    ("vs\nrandom", lambda f: _with_ci(f, "vs_random", _pts)),
    ("never", lambda f: _pct(f.get("never_mean_score"))),
    ("always", lambda f: _pct(f.get("always_mean_score"))),
    ("oracle", lambda f: _pct(f.get("oracle_mean_score"))),
)


def metrics_table(rows: Sequence[tuple[str, Mapping[str, Any]]], title: str, first: str = "",
                  notes: Sequence[str] = ()) -> Table:
    """One row per (label, metrics): AUC, APGR, CPT(50%), CPT(80%) with their 95% CIs
    below them, the router at its threshold, and the never / always / oracle baselines."""
    t = Table(title=title, title_justify="left", header_style="bold", collapse_padding=True)
    t.add_column(first, min_width=8)
    for name, _ in _METRIC_COLUMNS:  # a narrow terminal wraps a CI at its space, never cuts a number
        t.add_column(name, justify="right", min_width=6)
    reasons: dict[str, list[str]] = {}
    for label, m in rows:
        f = _flat(m)
        t.add_row(label, *(cell(f) for _, cell in _METRIC_COLUMNS))
        if f.get("apgr_reason"):
            reasons.setdefault(f"APGR/CPT {DASH} for {{}}: {f['apgr_reason']}", []).append(label)
        elif f.get("apgr_ci_reason"):
            reasons.setdefault(f"APGR CI {DASH} for {{}}: {f['apgr_ci_reason']}", []).append(label)
    lines = [*notes, "score and baselines: mean score (percent); CPT: think rate reaching 50% / 80% of "
             "always-think's gain; vs random: router minus random routing at the same think rate, in points."]
    lines += [why.format(", ".join(where)) for why, where in reasons.items()]
    t.caption, t.caption_justify = "\n".join(lines), "left"
    return t


def router_train_table(router_meta: Mapping[str, Any], threshold: float | None = None) -> Table:
    """`router train`: the held-out and cross-validated metrics saved in `router.meta`."""
    m = router_meta
    head = (f"Router: features {m.get('features', DASH)}, model {m.get('model', DASH)}, "
            f"{_int(m.get('n_items'))} items, thinking pays on {_int(m.get('n_positive'))}"
            + (f", threshold {_f2(threshold)}" if threshold is not None else ""))
    notes = [f"threshold: {m['threshold_rule']}"] if m.get("threshold_rule") else []
    if m.get("degenerate"):
        notes.append(f"degenerate: {m['degenerate']}")
    rows = []
    for key, label in (("held_out", "held-out"), ("cv", "CV")):
        part = m.get(key) or {}
        if "router" in part or "auc" in part:
            rows.append((label, part))
        elif part.get("reason"):
            notes.append(f"{label}: {part['reason']}")
    if m.get("cv"):
        notes.append("held-out: groups kept out of training; CV: out-of-fold scores, which lean optimistic (features "
                     "and threshold chosen on them)")
    sel = [s for s in m.get("feature_selection") or [] if isinstance(s, Mapping)]
    if sel:
        parts = [f"{s.get('features')} {_f2(s['cv_auc_net'])}" if "cv_auc_net" in s
                 else f"{s.get('features')} ({s.get('skipped') or s.get('reason') or 'skipped'})" for s in sel]
        notes.append("feature sets (area of net value vs think rate, grouped CV): " + ", ".join(parts))
    return metrics_table(rows, head, notes=notes)


def router_eval_tables(result: Mapping[str, Any]) -> list[Table]:
    """`router eval`: the policies (never / always / random / oracle / router), the
    metrics overall and per domain, and leave-one-domain-out when it ran."""
    r = result.get("router") or {}
    at = r.get("at_threshold") or {}
    head = (f"Router {result.get('router_path') or ''} ({result.get('features', DASH)}, "
            f"{result.get('model', DASH)}, threshold {_f2(result.get('threshold'))}) "
            f"on {_int(result.get('n_items'))} items").replace("  ", " ")
    policies = Table(title=head, title_justify="left", header_style="bold")
    for name in ("policy", "think rate", "mean score", "mean tokens"):
        policies.add_column(name, justify="left" if name == "policy" else "right")
    for label, p in (("never think", result.get("never")), ("always think", result.get("always")),
                     ("random at the router's rate", {"think_rate": at.get("think_rate"),
                                                      "mean_score": at.get("random_mean_score"),
                                                      "mean_tokens": at.get("random_mean_tokens")}),
                     ("oracle", result.get("oracle")), ("router at threshold", at)):
        p = p or {}
        policies.add_row(label, _pct(p.get("think_rate")), _with_ci(p, "mean_score", _pct, " "),
                         _int(p.get("mean_tokens")))
    policies.caption = f"CIs: {result['ci_method']}" if result.get("ci_method") else None
    policies.caption_justify = "left"
    rows = [("overall", result)] + [(str(d.get("domain")), d) for d in result.get("per_domain") or []]
    tables = [policies, metrics_table(rows, "Routing metrics", first="domain")]
    loo = result.get("leave_one_domain_out") or []
    if loo:
        tables.append(metrics_table([(str(d.get("domain")), d) for d in loo],
                                    "Leave one domain out: train on the others, decide on this one",
                                    first="held-out domain"))
    return tables


# ---------------------------------------------------------------- progress bar

class RateColumn(ProgressColumn):
    """Completed steps per second, e.g. '12.3 items/s' ('–' until there is a rate)."""

    def __init__(self, unit: str = "items") -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{DASH if speed is None else f'{speed:.1f}'} {self.unit}/s", style="progress.data.speed")


def progress(console: Console | None = None, unit: str = "items") -> Progress:
    """The run's progress bar: description, bar, done/total, items/s, ETA, elapsed.

    stderr is left alone (redirect_stderr=False): inside `engine_log` it is the log file,
    so engine noise written while the bar draws lands there, not above the bar.
    """
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(unit),
                    TextColumn("eta"), TimeRemainingColumn(), TextColumn("elapsed"), TimeElapsedColumn(),
                    console=console, redirect_stderr=False)


# ---------------------------------------------------------------- engine noise

@contextlib.contextmanager
def engine_log(run_dir: Path, verbose: bool = False) -> Iterator[Path]:
    """Send engine noise to RUN_DIR/engine.log (appended); with `verbose`, also to the terminal.

    Inside the block: file descriptor 2 is the log (C-level writes of the engine and of
    its child processes, `sys.stderr`, tqdm bars), Python warnings are written there, the
    vllm / transformers / torch loggers write there (vLLM's stdout handler included, and a
    vLLM imported or spawned inside logs to stderr), and stdout is untouched, so rich
    output still draws. Print messages meant for the user to stdout. Everything is
    restored on exit, exceptions included. Yields the log's path.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / ENGINE_LOG
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(open(path, "a", encoding="utf-8", buffering=1))
        log.write(f"--- thinkgate engine log, pid {os.getpid()}, "
                  f"{_dt.datetime.now().isoformat(timespec='seconds')} ---\n")
        stream = stack.enter_context(_redirect_fd2(log, verbose))
        stack.enter_context(contextlib.redirect_stderr(stream))  # also where sys.stderr is not fd 2
        stack.enter_context(_warnings_to(stream))
        stack.enter_context(_loggers_to(stream))
        stack.enter_context(_env("VLLM_LOGGING_STREAM", "ext://sys.stderr"))
        yield path


@contextlib.contextmanager
def _redirect_fd2(log, verbose: bool) -> Iterator[Any]:
    """fd 2 -> the log (or, verbose, a pipe that a thread copies to the log and the terminal).
    Yields a text stream writing to the new fd 2."""
    for s in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            s.flush()
    saved = os.dup(2)
    tee = None
    try:
        if verbose:
            r, w = os.pipe()
            tee = threading.Thread(target=_tee, args=(r, os.dup(log.fileno()), os.dup(saved)),
                                   name="engine-log-tee", daemon=True)
            tee.start()
            os.dup2(w, 2)
            os.close(w)
        else:
            log.flush()
            os.dup2(log.fileno(), 2)
        stream = open(os.dup(2), "w", encoding="utf-8", errors="replace", buffering=1)
        try:
            yield stream
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            stream.close()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        if tee is not None:  # EOF once no process holds the pipe; a child that outlives us keeps it open
            tee.join(timeout=2)


def _tee(r: int, *outs: int) -> None:
    try:
        while chunk := os.read(r, 65536):
            for fd in outs:
                with contextlib.suppress(OSError):
                    os.write(fd, chunk)
    finally:
        for fd in (r, *outs):
            with contextlib.suppress(OSError):
                os.close(fd)


@contextlib.contextmanager
def _warnings_to(stream) -> Iterator[None]:
    with warnings.catch_warnings():  # restores showwarning and the filters on exit
        def show(message, category, filename, lineno, file=None, line=None):
            with contextlib.suppress(Exception):
                stream.write(warnings.formatwarning(message, category, filename, lineno, line))
        warnings.showwarning = show
        yield


class _EngineHandler(logging.StreamHandler):
    """Our handler on an engine logger that had none. It stands down once the library adds
    its own handlers inside the block (they write to stderr, which is the log by then)."""

    def __init__(self, stream, logger: logging.Logger) -> None:
        super().__init__(stream)
        self.logger = logger
        self.setFormatter(logging.Formatter("%(levelname)s %(asctime)s %(name)s: %(message)s"))

    def filter(self, record: logging.LogRecord) -> bool:
        return all(h is self for h in self.logger.handlers) and super().filter(record)


@contextlib.contextmanager
def _loggers_to(stream) -> Iterator[None]:
    swapped: list[tuple[logging.StreamHandler, Any]] = []
    added: list[tuple[logging.Logger, logging.Handler, bool]] = []
    try:
        for name in ENGINE_LOGGERS:
            logger = logging.getLogger(name)
            terminal = [h for h in logger.handlers
                        if isinstance(h, logging.StreamHandler) and _fd(h.stream) in (1, 2)]
            for h in terminal:
                swapped.append((h, h.setStream(stream)))
            if not logger.handlers:
                h = _EngineHandler(stream, logger)
                logger.addHandler(h)
                added.append((logger, h, logger.propagate))
                logger.propagate = False
        yield
    finally:
        for h, old in reversed(swapped):
            with contextlib.suppress(Exception):
                h.setStream(old)
        for logger, h, propagate in added:
            if h in logger.handlers:  # else the library configured the logger inside: leave it so
                logger.removeHandler(h)
                logger.propagate = propagate


def _fd(stream: Any) -> int | None:
    try:
        return stream.fileno()
    except Exception:  # closed, or no fd (StringIO, a rich proxy)
        return None


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    """Set an environment variable unless the user set it; restore it on exit."""
    if name in os.environ:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)
