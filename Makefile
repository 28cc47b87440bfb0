# `make serve` and `make test` are all a fresh machine with Python 3.11+ needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: serve test schema lint bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Chirp needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-serve: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	@touch $@ $(VENV)/.installed-serve

serve: $(VENV)/.installed-serve
	$(BIN)/chirp serve

test: $(VENV)/.installed-test
	$(BIN)/pytest

schema: $(VENV)/.installed-serve
	$(BIN)/python -c 'from chirp.schema import SCHEMA_FILE, printed_schema; SCHEMA_FILE.write_text(printed_schema())'

lint: $(VENV)/.installed-test
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(VENV)/.installed-serve
	$(BIN)/chirp bench $(SCENARIO)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
