"""A run's settings, validated where they are made, and as a file.

    RunConfig(modes=("thnk",))   -> UserError: unknown mode 'thnk' (did you mean 'think'?) ...
    RunConfig(model="Qwen/Qwen3-8B").profile  -> "qwen3"   (guessed from the model's name)
    RunConfig.from_file("run.toml")            # TOML or YAML; unknown keys are an error
    cfg.to_file(run_dir / "config.toml")       # every run writes the config it used

The same checks run from Python and from the CLI (which only parses and calls this), so
both give the same message for the same mistake.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from thinkgate.harness.backends import BACKENDS, EngineConfig
from thinkgate.harness.errors import UserError
from thinkgate.harness.profiles import PROFILES, check_modes, guess_profile, parse_budget
from thinkgate.tasks.registry import SUITES
from thinkgate.tasks.types import DOMAINS

CONFIG_NAME = "config.toml"


@dataclass(frozen=True)
class RunConfig:
    out: str = "runs/eval"
    model: str | None = None  # None: the embedded default
    revision: str | None = None
    profile: str | None = None  # None: guessed from the model's name
    backend: str = "auto"
    suites: tuple[str, ...] = ("gsm8k",)
    modes: tuple[str, ...] = ("think", "no_think")
    samples: int = 1
    limit: int | None = None
    max_tokens: int = 2048
    seed: int = 0
    matched_decoding: bool = False
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    engine: EngineConfig = field(default_factory=EngineConfig)
    lmeval_include: str | None = None  # a folder of lm-eval YAML tasks
    tokenizer: str | None = None  # served models: a local tokenizer for exact reasoning/answer token counts
    judge: str | None = None  # judge think vs no_think answers with this model ("embedded": the default)
    judge_max_tokens: int = 512
    budget_mechanism: str = "two-pass"  # how budget:N modes are enforced (harness/budget.py)

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen)
        set_("out", str(self.out))
        set_("suites", _tuple(self.suites, "suites"))
        set_("modes", check_modes(_tuple(self.modes, "modes")))
        if isinstance(self.engine, dict):
            set_("engine", _engine(self.engine))
        if self.profile is None:
            from thinkgate.harness.models import DEFAULT_MODEL

            set_("profile", guess_profile(self.model or DEFAULT_MODEL))
        self._check_numbers()
        self._check_names()
        self._check_backend()
        self._check_budgets()

    @property
    def served(self) -> bool:
        return BACKENDS.get(self.backend).served

    def _check_numbers(self) -> None:
        for name, low in (("samples", 1), ("max_tokens", 1), ("judge_max_tokens", 1)):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < low:
                raise UserError(f"{name} must be an integer of at least {low}, got {getattr(self, name)!r}")
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise UserError(f"limit must be a positive integer (or omitted for every item), got {self.limit!r}")
        if self.temperature is not None and self.temperature < 0:
            raise UserError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise UserError(f"top_p must be in (0, 1], got {self.top_p}")
        e = self.engine
        if e.concurrency < 1 or e.request_timeout <= 0 or e.batch_size < 1:
            raise UserError("concurrency and batch_size must be at least 1 and request_timeout positive; got "
                            f"{e.concurrency}, {e.batch_size}, {e.request_timeout}")

    def _check_names(self) -> None:
        PROFILES.get(self.profile)
        BACKENDS.get(self.backend)
        if not self.suites:
            raise UserError("no suites given; name at least one (see `thinkgate list`)")
        from thinkgate.tasks.custom import is_custom
        from thinkgate.tasks.lmeval import is_lmeval
        from thinkgate.tasks.registry import get_suite

        for name in self.suites:
            if not (name == "all" or name in DOMAINS or is_custom(name) or is_lmeval(name) or name in SUITES):
                get_suite(name)  # raises the one "unknown suite ... did you mean" error

    def _check_backend(self) -> None:
        profile = PROFILES.get(self.profile)
        if profile.served_only and not self.served:
            raise UserError(f"profile '{profile.name}' works with served models only: run the model behind "
                            "an OpenAI-compatible server (e.g. `vllm serve`) and pass --backend openai --base-url URL")
        if self.served and (not self.model or not self.engine.base_urls):
            raise UserError(f"--backend {self.backend} needs --model (the served model's name) and "
                            "--base-url URL[,URL...]")

    def _check_budgets(self) -> None:
        budgets = {m: parse_budget(m) for m in self.modes if parse_budget(m)}
        if not budgets:
            return
        from thinkgate.harness.budget import BUDGET_MECHANISMS

        BUDGET_MECHANISMS.get(self.budget_mechanism)
        profile = PROFILES.get(self.profile)
        if not profile.budgets:
            raise UserError(f"profile '{profile.name}' cannot take a thinking budget (its reasoning cannot be "
                            "spliced); compare its own levels with --modes think,no_think instead")
        for mode, b in budgets.items():
            if b.tokens >= self.max_tokens:
                raise UserError(f"mode '{mode}': the thinking budget ({b.tokens}) must be below max_tokens "
                                f"({self.max_tokens}), which also holds the answer; raise --max-tokens or "
                                "lower the budget")

    # ------------------------------------------------------------------ files

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, no None: TOML has no null, and a missing key means the default)."""
        return _drop_none(json.loads(json.dumps(asdict(self))))

    def to_file(self, path: str | Path) -> Path:
        path = Path(path)
        data = self.to_dict()
        if path.suffix in (".yaml", ".yml"):
            import yaml

            text = yaml.safe_dump(data, sort_keys=False)
        else:
            import tomli_w

            text = tomli_w.dumps(data)
        path.write_text("# thinkgate run config: `thinkgate eval --config THIS_FILE` repeats the run\n" + text,
                        encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> "RunConfig":
        known = {f.name for f in fields(cls)}
        bad = sorted(set(data) - known)
        if bad:
            raise _unknown_key(bad[0], known, where)
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | Path) -> "RunConfig":
        return cls.from_dict(read_config_file(path), str(path))

    def with_updates(self, **changes: Any) -> "RunConfig":
        """A copy with some fields changed (validated again); `engine` may be a dict of changes."""
        if isinstance(changes.get("engine"), dict):
            changes["engine"] = replace(self.engine, **changes["engine"])
        return replace(self, **changes)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping in a TOML (.toml) or YAML (.yaml/.yml) file; errors name the file and the fix."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            import tomllib

            data = tomllib.loads(text)
    except Exception as e:  # tomllib.TOMLDecodeError, yaml.YAMLError: both say where
        raise UserError(f"config file {path} does not parse ({type(e).__name__}: {e}); "
                        "write TOML (.toml) or YAML (.yaml)") from None
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must hold a mapping of settings, got {type(data).__name__}")
    return data


def _tuple(value: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise UserError(f"{name} must be a list of names (or one comma-separated string), got {value!r}")
    return tuple(value)


def _engine(data: dict[str, Any]) -> EngineConfig:
    known = {f.name for f in dataclasses.fields(EngineConfig)}
    bad = sorted(set(data) - known)
    if bad:
        raise _unknown_key(bad[0], known, "engine")
    if "base_urls" in data:
        data = {**data, "base_urls": _tuple(data["base_urls"], "engine.base_urls")}
    return EngineConfig(**data)


def _unknown_key(key: str, known: set[str], where: str) -> UserError:
    from thinkgate.tasks.plugins import did_you_mean

    return did_you_mean("setting", key, known, f" (in {where})")


def _drop_none(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _drop_none(v) for k, v in data.items() if v is not None}
    return data
