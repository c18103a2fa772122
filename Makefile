# The two commands a newcomer needs: `make demo` and `make test`. Everything else is a helper.
# PYTHON=/path/to/python3.12 overrides the interpreter search in scripts/find-python.

PYTHON ?= $(shell scripts/find-python)
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS := tests,docs,dev,celery,postgres,tasks
PORT ?= 8000
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv lint pre-commit format test pytest test-postgres test-bench test-celery test-oscar soak docs demo fake screenshots bench test-django52 messages clean

help:
	@echo "make demo   run the example shop with the embedded fake Vipps and the worker (PORT=$(PORT))"
	@echo "make test   create $(VENV), install, run ruff, the tests and the docs build"
	@echo "make bench  run the benchmarks and print ratios"
	@echo "make test-bench  the benchmarks' own test (every row runs; CI runs it)"
	@echo "make soak   the long runs (PostgreSQL, thousands of orders, a flaky Vipps)"
	@echo "make test-django52  the suite on Django 5.2 LTS, in .venv-django52"
	@echo "make docs   build the documentation into docs/_build/html"

$(BIN)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "No Python >= 3.12 found; run make with PYTHON=..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $@

venv: $(BIN)/.installed

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m django makemigrations vipps_order_management shop --check --dry-run --skip-checks --settings=tests.settings
	VIPPS_DEMO_DATA_DIR=$$(mktemp -d) $(BIN)/python -m django makemigrations shop --check --dry-run --skip-checks --settings=example_project.settings

# The hooks of .pre-commit-config.yaml on the whole tree, as `git commit` runs them on a change.
pre-commit: venv
	$(BIN)/pre-commit run --all-files --show-diff-on-failure

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Tiers, selected by marker: the whole suite on SQLite; the tests marked `postgres` again on a
# private PostgreSQL; those marked `redis` on a private Redis (the Celery tier). A tier whose
# server is not installed is skipped with the reason locally and fails under CI=true
# (scripts/with-services). `bench` and `soak` are long; CI runs them after `make test`.
DEFAULT_TIER := not redis and not soak and not bench

pytest: venv
	$(BIN)/python -m pytest -m "$(DEFAULT_TIER)" $(PYTEST_ARGS)

test-postgres: venv
	scripts/with-services --postgres --name "PostgreSQL tier" -- \
		$(BIN)/python -m pytest -m "postgres and $(DEFAULT_TIER)" $(PYTEST_ARGS)

# The benchmarks' own test: every row of `make bench` runs and reports what it counted.
test-bench: venv
	$(BIN)/python -m pytest -m bench $(PYTEST_ARGS)

# Long runs (thousands of orders, a flaky Vipps, several workers) on PostgreSQL; CI runs them.
soak: venv
	scripts/with-services --postgres --name "Soak tier" -- \
		$(BIN)/python -m pytest -m soak $(PYTEST_ARGS)

test-celery: venv
	scripts/with-services --redis --name "Celery tier" -- \
		$(BIN)/python -m pytest -m redis $(PYTEST_ARGS)

docs: venv
	$(BIN)/sphinx-build -E -W --keep-going -q -b html docs docs/_build/html

test: lint pytest test-postgres test-celery test-oscar docs

demo: venv
	$(BIN)/python -m example_project.demo --port $(PORT)

fake: venv
	$(BIN)/python -m vipps_order_management.testing.fake_server --port 8765

# Regenerate the documentation's screenshots from the browser tests.
screenshots: venv
	VIPPS_OM_SCREENSHOTS=docs $(BIN)/python -m pytest tests/test_browser.py tests/test_browser_health.py $(PYTEST_ARGS)

# The benchmarks on SQLite, then on a private PostgreSQL that the suite starts through
# scripts/with-services --postgres (skipped with the reason when PostgreSQL is not installed).
# BENCH_ARGS narrows or records a run, e.g. BENCH_ARGS="--only worker --json bench.json".
bench: venv
	$(BIN)/python -m benchmarks --database both $(BENCH_ARGS)

# The same suite on the older supported Django (5.2 LTS), in its own environment.
test-django52: PYTEST_ENV := .venv-django52
test-django52:
	$(PYTHON) -m venv $(PYTEST_ENV)
	$(PYTEST_ENV)/bin/python -m pip install --quiet --upgrade pip
	$(PYTEST_ENV)/bin/python -m pip install --quiet -e ".[$(EXTRAS)]" "Django>=5.2,<5.3" "django-tasks>=0.8"
	$(PYTEST_ENV)/bin/python -m pytest $(PYTEST_ARGS)

# The Oscar tier: a django-oscar shop (tests/oscar, its own settings) in its own environment
# with the [oscar] extra. When that environment cannot be built (no package index, say) the
# tier is skipped with the reason locally, and fails under CI=true.
OSCAR_VENV := .venv-oscar
test-oscar:
	@test -n "$(PYTHON)" || { echo "No Python >= 3.12 found; run make with PYTHON=..."; exit 1; }
	@if ! { $(PYTHON) -m venv $(OSCAR_VENV) \
		&& $(OSCAR_VENV)/bin/python -m pip install --quiet --upgrade pip \
		&& $(OSCAR_VENV)/bin/python -m pip install --quiet -e ".[tests,oscar]"; }; then \
		case "$$(echo "$$CI" | tr A-Z a-z)" in 1|true|yes) \
			echo "Oscar tier: could not build $(OSCAR_VENV) with django-oscar -- CI=true requires this tier to run"; exit 1;; \
		esac; \
		echo "SKIPPED Oscar tier: could not build $(OSCAR_VENV) (pip install -e '.[tests,oscar]' failed)"; exit 0; \
	fi; \
	$(OSCAR_VENV)/bin/python -m pytest tests/oscar --ds=tests.oscar.settings $(PYTEST_ARGS)

messages: venv
	cd vipps_order_management && ../$(BIN)/django-admin makemessages -l nb -l da -l fi --no-obsolete
	cd vipps_order_management && ../$(BIN)/django-admin compilemessages

clean:
	rm -rf $(VENV) .venv-django52 $(OSCAR_VENV) docs/_build build dist *.egg-info .pytest_cache .ruff_cache
