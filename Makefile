# The two commands a newcomer needs (see README):
#   make dashboard   set up .venv and open the dashboard on the built-in fruits pack
#   make test        set up .venv with every extra, Debian's chromium and a PostgreSQL server
#                    (for the label store's tests), then lint and test
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
PORT ?= 8501
# 127.0.0.1: this machine only. `make dashboard ADDRESS=0.0.0.0` serves the network (turn
# logins on first: see README, "Deploying").
ADDRESS ?= 127.0.0.1

.PHONY: dashboard test setup setup-dev lint bench chromium postgres postgres-stop

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(PIP) -e ".[dev,tfhub,dask]"
	touch $@ $(VENV)/.installed

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev chromium postgres

# Browser tests drive Debian's chromium; never a browser downloaded by a test tool.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The label store's tests run on SQLite and on a real PostgreSQL server: Debian's, installed if
# missing, started on a unix socket in /tmp/labelwise-postgres (see .ci/postgres). The tests find
# it by LABELWISE_TEST_POSTGRES, or by default.
postgres:
	@.ci/postgres start >/dev/null

postgres-stop:
	@.ci/postgres stop

dashboard: setup
	$(VENV)/bin/labelwise dashboard --address $(ADDRESS) --port $(PORT)

lint: setup-dev
	$(VENV)/bin/ruff check .

# The suite on SQLite, then every test that touches a label store again with PostgreSQL as the
# default store (the `store` marker: see tests/conftest.py).
test: setup-dev
	$(VENV)/bin/ruff check .
	export LABELWISE_TEST_POSTGRES="$${LABELWISE_TEST_POSTGRES:-$$(.ci/postgres url)}"; \
	$(PY) -m pytest && LABELWISE_TEST_STORE=postgresql $(PY) -m pytest -m store

bench: setup-dev
	$(PY) benchmarks/step_latency.py
