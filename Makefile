# `make serve` and `make test` are all a fresh machine with Python 3.11+ needs.
# Every target is described in the README ("Make targets").
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: serve test test-engines schema lint bench graphiql-assets clean

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

test: $(VENV)/.installed-test test-engines
	$(BIN)/pytest

# Engines some tests drive beyond Python: Debian's Chromium (GraphiQL in a real
# browser) and npm packages (the graphql-http audit, the JavaScript examples).
# Each script installs what it can and says why when it cannot; the tests that
# need a missing engine skip with that reason.
test-engines:
	@scripts/ensure-chromium
	@scripts/ensure-node-packages

schema: $(VENV)/.installed-serve
	$(BIN)/python -c 'from chirp.schema import SCHEMA_FILE, printed_schema; SCHEMA_FILE.write_text(printed_schema())'

lint: $(VENV)/.installed-test
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(VENV)/.installed-serve
	$(BIN)/chirp bench $(SCENARIO)

# Rebuild the vendored GraphiQL assets (chirp/graphiql/static) from the npm
# versions pinned in chirp/graphiql/build/package.json; needs Node and npm.
graphiql-assets:
	chirp/graphiql/build/vendor.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info tests/js/node_modules examples/js/node_modules
