# chain — the two commands a new user needs:
#   make demo   set up .venv, run the three-stage pipeline on examples/, show what the profiles learned
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_STATE ?= .chain/demo.db
# Three pytest workers per core (at most 8): the suite spends about half its time waiting on sandboxes, timeouts
# and a Ray cluster's start-up (2026-12-03, 2 cores: 4 workers busy 635 s each for 12.5 CPU-min in 658 s; 6
# workers: 584 s, no failure), so fewer workers leave the cores idle.
JOBS   ?= $(shell n=$$(nproc 2>/dev/null || echo 2); j=$$((n * 3)); [ $$j -gt 8 ] && j=8; echo $$j)

.PHONY: demo test lint format bench report clean readme help
help:
	@echo "make demo   - run chain task | analyze | process | optimize on examples/, then chain profiles"
	@echo "make test   - run the linters, then the test suite"
	@echo "make lint   - ruff (lint, format check) and mypy over chain/, stages/ and bench/"
	@echo "make format - apply ruff's safe fixes and formatting to chain/, stages/ and bench/"
	@echo "make bench  - run the benchmarks in benchmarks/"
	@echo "make report - generate a suite, bench it, write .chain/report/index.html and a PNG screenshot"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(STAMP)
	@mkdir -p $(dir $(DEMO_STATE)) .chain  # a fresh clone has no .chain/ yet: tee would fail to open its file
	@echo "== chain task examples/* | chain analyze | chain process | chain optimize" >&2
	$(BIN)/chain task examples/projects/* \
	  | CHAIN_STATE=$(DEMO_STATE) $(BIN)/chain analyze -v \
	  | CHAIN_STATE=$(DEMO_STATE) $(BIN)/chain process -v \
	  | CHAIN_STATE=$(DEMO_STATE) $(BIN)/chain optimize -v \
	  | tee .chain/demo-out.ndjson \
	  | $(BIN)/python examples/summarize.py
	@echo "== chain profiles (learned from the runs above)" >&2
	$(BIN)/chain profiles --state $(DEMO_STATE)

LINT_PATHS ?= chain stages bench

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy $(LINT_PATHS)

# Re-applies the formatting and the safe lint fixes (after a merge brought in unformatted code).
format: $(STAMP)
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(BIN)/ruff format $(LINT_PATHS)

test: lint
	$(BIN)/python -m pytest -n $(JOBS) --dist loadgroup -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/passthrough.py

# A small bench on a generated suite, its HTML report, and a full-page screenshot of it (headless Chromium).
report: $(STAMP)
	$(BIN)/chain generate --seed 7 --tasks 10 --difficulty medium -o .chain/report/suite.ndjson
	$(BIN)/chain bench .chain/report/suite.ndjson --profile auto --pattern fanout,pipeline,race \
	  --race conservative,aggressive --concurrency 1,2,4 --report .chain/report
	$(BIN)/python -m chain.bench.browser .chain/report/index.html .chain/report/index.png

readme: $(STAMP)
	$(BIN)/python scripts/readme_sections.py --write

clean:
	rm -rf $(VENV) .chain .pytest_cache
