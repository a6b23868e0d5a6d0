# `make run` serves the gateway, `make test` runs every check; both set up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint chromium bench profile screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/gunicorn wsgi:app

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec compose.yaml

chromium:
	@# The page test renders in a real browser: Debian's headless Chromium.
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# A developer's first green in about a minute: everything in process but the soak simulations.
test-fast: lint chromium
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not slow and not chaos and not soak"

test: lint chromium
	@# Two runs, each on both cores (pytest-xdist): first what runs in process on the fake clock
	@# (the soak simulations among it), then the end-to-end tests, which wait on real time far
	@# more than they compute, two at a time. Plain `pytest` runs everything in one process.
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not slow and not chaos"
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "slow or chaos"

bench: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench

# Where an accept's CPU goes: py-spy on each worker under wrk (bench/profile.py).
profile: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.profile

# The console's screenshots in docs/console/, taken by the test that takes them in CI.
screenshots: $(STAMP) chromium
	SCREENSHOTS_DIR=docs/console $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_console.py -k screenshots

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
