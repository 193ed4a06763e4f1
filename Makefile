# Two entry points for a fresh machine with Python 3.10+ and make:
#   make demo   creates .venv if missing, installs numcnn[data], trains the nuclei U-Net
#   make test   creates .venv if missing, installs numcnn[dev,data], runs the test suite
#   make demo QUIET=1   the same demo without per-epoch progress (in a log, without QUIET,
#                       progress is one line per epoch instead of bars)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba_cache
export MPLBACKEND ?= Agg
QUIET ?=

.PHONY: demo test lint bench docs install install-dev clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "numcnn needs Python 3.10+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[data]'
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev,data]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(BIN)/python -m numcnn.demo $(if $(QUIET),--quiet)

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

docs: $(VENV)/.installed-dev
	$(BIN)/python -m numcnn._apidoc --write

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_layers.py

clean:
	rm -rf $(VENV) .numba_cache .pytest_cache .hypothesis runs
