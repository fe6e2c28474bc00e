# gutbrain: the two commands of the README.
#   make demo   create .venv, install gutbrain, run `gutbrain demo`, print the report's path
#   make test   create .venv, install gutbrain with its test extras, run ruff and the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= gutbrain-demo

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[sim]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/gutbrain demo --out $(DEMO_OUT)

test: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks

# Side-by-side peer comparisons at quick sizes (a few minutes; not part of `make test`), printed as
# one table: work, size, peer, peer time, gutbrain time, ratio, floor. Full sizes: each script's --help.
bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(DEMO_OUT)
