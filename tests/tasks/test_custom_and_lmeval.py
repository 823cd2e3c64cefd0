"""Custom JSONL suites and lm-eval tasks as suites."""

import json

import pytest

from thinkgate.tasks import resolve_suites
from thinkgate.tasks.evals_format import DataFileError


def write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_custom_jsonl_suite(tmp_path):
    f = write(tmp_path / "arith.jsonl", [
        json.dumps({"id": "a", "prompt": "2+2?", "reference": "4", "group": "add"}),
        json.dumps({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "3*3?"}],
                    "reference": "9"}),
    ])
    [suite] = resolve_suites([f"{f}:math"])
    items = suite.items()
    assert suite.name == "arith" and suite.domain == "math" and suite.verifiable
    assert [i.id for i in items] == ["arith/a", "arith/2"] and items[0].group == "add"
    assert items[1].messages[0] == {"role": "system", "content": "Be brief."}
    assert suite.scorer()("\\boxed{4}", items[0]).passed is True


@pytest.mark.parametrize("lines, needle", [
    (['{"prompt": "x", "reference": "1"}', '{"prompt": "y", "reference": '], ":2: not valid JSON"),
    (['{"prompt": "x"}'], ":1: needs a 'reference'"),
    (['{"reference": "1"}'], ":1: needs a 'prompt' string or a 'messages' list"),
    (['[1, 2]'], ":1: expected a JSON object"),
    (['{"messages": [{"role": "user"}], "reference": "1"}'], ":1: 'messages' must be"),
    (['{"id": 1, "prompt": "x", "reference": "1"}', '{"id": 1, "prompt": "y", "reference": "2"}'], ":2: duplicate id"),
])
def test_malformed_custom_suite_names_file_and_line(tmp_path, lines, needle):
    f = write(tmp_path / "bad.jsonl", lines)
    with pytest.raises(DataFileError, match=needle.replace("(", r"\(").replace("[", r"\[")) as e:
        resolve_suites([f"{f}:math"])
    assert str(f) in str(e.value)


def test_custom_suite_needs_a_known_scorer(tmp_path):
    f = write(tmp_path / "s.jsonl", ['{"prompt": "x", "reference": "1"}'])
    with pytest.raises(DataFileError, match="names no scorer"):
        resolve_suites([str(f)])
    with pytest.raises(DataFileError, match="did you mean 'math'"):
        resolve_suites([f"{f}:maths"])


def test_malformed_custom_suite_is_a_one_line_cli_error(tmp_path):
    from ..conftest import run_cli

    f = write(tmp_path / "bad.jsonl", ['{"prompt": "x", "reference": "1"}', "not json"])
    res = run_cli("eval", "--suites", f"{f}:math", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [f"error: {f}:2: not valid JSON (Expecting value at column 1); write one JSON object per line"]


LMEVAL_YAML = """task: thinkgate_local_arith
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: "{{{{answer}}}}"
metric_list:
  - metric: exact_match
generation_kwargs:
  until: ["\\n"]
"""


@pytest.fixture
def lmeval_dir(tmp_path):
    data = write(tmp_path / "arith.jsonl", [json.dumps({"question": "What is 2+2?", "answer": "4"}),
                                            json.dumps({"question": "What is 3+5?", "answer": "8"})])
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "arith.yaml").write_text(LMEVAL_YAML.format(data=data))
    return tasks


def test_lmeval_local_yaml_task_runs_as_a_suite(lmeval_dir):
    [suite] = resolve_suites(["lmeval:thinkgate_local_arith:math"], lmeval_include=str(lmeval_dir))
    items = suite.items()
    assert suite.name == "lmeval_thinkgate_local_arith" and suite.domain == "math"
    assert [i.messages[-1]["content"] for i in items] == ["Question: What is 2+2?\nAnswer:",
                                                          "Question: What is 3+5?\nAnswer:"]
    assert [i.reference for i in items] == ["4", "8"]
    assert suite.scorer()("The answer is 8.", items[1]).passed is True


def test_lmeval_default_scorer_from_exact_match_metric(lmeval_dir):
    [suite] = resolve_suites(["lmeval:thinkgate_local_arith"], lmeval_include=str(lmeval_dir))
    assert suite.domain == "longtail"
    assert suite.scorer()("4", suite.items()[0]).value == 1.0


def test_lmeval_unknown_task_and_hub_dataset_offline(lmeval_dir, tmp_path):
    with pytest.raises(DataFileError, match="lm-eval has no task 'thinkgate_local_arit'.*did you mean"):
        resolve_suites(["lmeval:thinkgate_local_arit"], lmeval_include=str(lmeval_dir))
    hub = tmp_path / "hub"
    hub.mkdir()
    (hub / "t.yaml").write_text("task: thinkgate_hub_only\ndataset_path: no-such-org/no-such-dataset-xyz\n"
                                "test_split: test\noutput_type: generate_until\ndoc_to_text: q\n"
                                "doc_to_target: a\nmetric_list:\n  - metric: exact_match\n")
    with pytest.raises(DataFileError, match="could not load its data.*offline"):
        resolve_suites(["lmeval:thinkgate_hub_only"], lmeval_include=str(hub))
