# Everything a fresh Debian machine with Python 3.11 needs: `make app`, `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEFAULT_MODEL ?= library/jepa.ebm

.PHONY: app test lint typecheck sysdeps graphviz chromium bench reproduce clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# torch is pinned to the local CPU build first, so nothing else can pull a CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# System packages: graphviz for drawings, Debian's chromium for the browser tests (Playwright
# cannot download its own browser here). Installed with apt-get when missing (machines here run as root).
define apt_need
	@if ! $(2) >/dev/null 2>&1; then \
	  echo "installing system package $(1)"; \
	  if [ "$$(id -u)" != 0 ]; then echo "error: $(1) is missing and this is not root: run 'sudo apt-get install $(1)'" >&2; exit 1; fi; \
	  (apt-get install -y -qq $(1) >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null)); \
	fi
	@$(2) >/dev/null 2>&1 || { echo "error: $(1) is still missing after apt-get install $(1)" >&2; exit 1; }
endef

graphviz:
	$(call apt_need,graphviz,command -v dot)

chromium:
	$(call apt_need,chromium,test -x /usr/bin/chromium)

sysdeps: graphviz chromium

lint: $(STAMP)
	$(BIN)/ruff check ebmgraph tests benchmarks examples app

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) sysdeps lint typecheck
	$(BIN)/pytest

# The composer on the default model with the digits loaded; Ctrl-C stops it. It serves this machine
# only (127.0.0.1); `make app HOST=0.0.0.0` serves the network, with a warning: the app has no login,
# so anyone who can reach it can edit and save the file, train and upload (see README.md).
# `=`, not `?=`: a HOST in the environment (some shells export one) never widens it
HOST = 127.0.0.1
PORT = 8501
app: $(STAMP) graphviz
	$(BIN)/python -m ebmgraph.app_launch $(DEFAULT_MODEL) --host $(HOST) --port $(PORT)

# the seeds reproduced: each script trains a library model from its config and runs its peer alongside;
# the rows and figures go to docs/reproductions/, the table to docs/reproductions.md
reproduce: $(STAMP)
	cd examples/reproduce && for s in $$(ls *.py | grep -v '^_' | grep -v '^table.py$$'); do \
	  ../../$(BIN)/python $$s || exit 1; done
	$(BIN)/python examples/reproduce/table.py

bench: $(STAMP) graphviz
	$(BIN)/python benchmarks/bench_startup.py
	$(BIN)/python benchmarks/bench_frontend.py
	$(BIN)/python benchmarks/bench_compiled_vs_handwritten.py
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_sparse_coding.py
	$(BIN)/python benchmarks/bench_distributed.py
	$(BIN)/python benchmarks/bench_agent.py
	$(BIN)/python benchmarks/bench_pixels.py

clean:
	rm -rf $(VENV) out build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
