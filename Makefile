# The two commands of the README: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TRACKER := $(VENV)/bin/tracker

.PHONY: install dev system-deps run test bench lint format clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

dev: $(VENV)/.dev-installed system-deps

$(VENV)/.dev-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Debian packages for the browser tests and report rendering: Chromium and a CJK font.
system-deps:
	@scripts/system-deps.sh

run: install
	$(TRACKER) db upgrade
	$(TRACKER) demo-data --if-empty
	$(TRACKER) run --host 127.0.0.1 --port 5000

test: dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

bench: dev
	$(PY) -m bench.run

lint: dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: dev
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) instance/*.sqlite* instance/celerybeat-schedule* .pytest_cache
