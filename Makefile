# Everything a fresh Debian machine with Python 3.11 needs: `make app`, `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEFAULT_MODEL ?= library/jepa.ebm

.PHONY: app test lint typecheck sysdeps bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# torch is pinned to the local CPU build first, so nothing else can pull a CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# System packages the tests need; installed with apt-get when missing (machines here run as root).
sysdeps:
	@if ! command -v dot >/dev/null 2>&1; then \
	  echo "installing graphviz (system package)"; \
	  if [ "$$(id -u)" != 0 ]; then echo "error: graphviz is missing and this is not root: run 'sudo apt-get install graphviz'" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	fi
	@command -v dot >/dev/null 2>&1 || { echo "error: graphviz 'dot' is still missing" >&2; exit 1; }

lint: $(STAMP)
	$(BIN)/ruff check ebmgraph tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) sysdeps lint typecheck
	$(BIN)/pytest

app: $(STAMP) sysdeps
	@mkdir -p out
	$(BIN)/ebm check $(DEFAULT_MODEL)
	$(BIN)/ebm render $(DEFAULT_MODEL) -o out/default_model.svg
	$(BIN)/ebm render $(DEFAULT_MODEL) -o out/default_model.png
	@echo "The composer app is not built yet; the default model is drawn in out/default_model.svg and .png"

bench: $(STAMP) sysdeps
	$(BIN)/python benchmarks/bench_frontend.py
	$(BIN)/python benchmarks/bench_compiled_vs_handwritten.py
	$(BIN)/python benchmarks/bench_training.py

clean:
	rm -rf $(VENV) out build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
