# gutbrain: the two commands of the README.
#   make demo   create .venv, install gutbrain, run `gutbrain demo`, print the report's path
#   make test   create .venv, install gutbrain with its test extras, run ruff and the whole test suite
#   make docs   install the docs extra into .venv, build the site offline into docs/_build/html
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= gutbrain-demo

.PHONY: demo test lint bench docs clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

$(VENV)/.installed-docs: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[docs]"
	touch $@

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[sim]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/gutbrain demo --out $(DEMO_OUT)

# Headless Chromium for PDF output (`gutbrain sample --pdf`) and its test; Playwright is in the test extra.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
		else \
			echo "make browser: /usr/bin/chromium is missing; install it (Debian: apt-get install -y chromium) for PDF output" >&2; \
		fi; \
	fi

test: browser $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks

# Side-by-side peer comparisons (minutes; not part of `make test`). Full sizes: see each script's --help.
bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/beta.py --quick
	$(BIN)/python benchmarks/da.py --n 2000 --f 500 --skip-ancombc
	$(BIN)/python benchmarks/maaslin3.py --n 2000 --f 500 --loop-subset 100 --repeat 1
	$(BIN)/python benchmarks/read_biom.py
	$(BIN)/python benchmarks/read_metaphlan.py
	$(BIN)/python benchmarks/sim.py

# Warnings are errors; -E re-reads every page so an earlier warning cannot hide in an incremental
# build; tutorials execute (cached in docs/_build/.jupyter_cache, re-run when their code changes).
docs: $(VENV)/.installed-docs
	$(BIN)/python -m sphinx -E -W --keep-going -n -q -b html docs docs/_build/html
	$(BIN)/python docs/_ext/check_offline.py docs/_build/html

clean:
	rm -rf $(VENV) $(DEMO_OUT) docs/_build docs/api
