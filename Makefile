# The two commands of the README: `make run` (install + start the service) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The suite waits on servers and subprocesses more than it computes: one pytest worker per core (0 = no workers).
PYTEST_WORKERS ?= 2
STAMP  := $(VENV)/.installed

.PHONY: run test check install services lint bench clean screenshots

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ required (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Install everything and run the service (scheduler + web API) on SQLite with the bundled catalogue.
run: $(STAMP)
	$(BIN)/milai run

## Install everything, start local PostgreSQL/Redis when present, run the checks and the whole test suite.
test: check
	@sh scripts/services.sh || true
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile

## The static checks: ruff, the layers contract (import-linter, [tool.importlinter]) and mypy against its baseline.
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_mypy.py

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/relevance.py
	$(BIN)/python bench/dedup.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/crawl_isolation.py
	$(BIN)/python -m bench.worker

## Screenshots of the home, item, trends and sources pages at 1280 and 390 px (in screenshots/, not committed).
screenshots: $(STAMP)
	$(BIN)/python scripts/screenshots.py screenshots

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache *.egg-info
