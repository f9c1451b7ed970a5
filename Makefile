# The two commands of the README: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TRACKER := $(VENV)/bin/tracker

.PHONY: install dev system-deps run test bench lint format clean lock sbom audit wheel

install: $(VENV)/.installed

# The pinned versions of requirements*.lock, each file checked against its hash; then the project itself.
# `pip install -e .` changes nothing when the lock is complete; a dependency added to pyproject.toml and
# not locked yet is still installed, so `make test` works — and tests/ops/test_lock.py fails until
# `make lock` is run.
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet -e .
	touch $@

dev: $(VENV)/.dev-installed system-deps

$(VENV)/.dev-installed: $(VENV)/.installed requirements-dev.lock
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Regenerate the lock files from pyproject.toml (and requirements-build.in, what the image builds the wheel
# with): the one command to run after changing a dependency. Versions already locked are kept (uv prefers
# the pins of the file it rewrites); `make lock UPGRADE=--upgrade` moves everything to the newest allowed.
UV_COMPILE = $(VENV)/bin/uv pip compile --universal --python-version 3.11 --generate-hashes --quiet $(UPGRADE)
lock: $(VENV)/.dev-installed
	$(UV_COMPILE) pyproject.toml -o requirements.lock
	$(UV_COMPILE) pyproject.toml --extra dev -o requirements-dev.lock
	$(UV_COMPILE) requirements-build.in -o requirements-build.lock

# A CycloneDX bill of materials of what the image installs (requirements.lock), as JSON.
sbom: $(VENV)/.dev-installed
	$(VENV)/bin/cyclonedx-py requirements requirements.lock --pyproject pyproject.toml --of JSON -o sbom.cdx.json
	@echo "sbom.cdx.json"

# Known vulnerabilities of the locked dependencies (PyPI's advisory data). .ci/run runs it after the tests.
audit: $(VENV)/.dev-installed
	scripts/audit.sh $(VENV)/bin/pip-audit requirements-dev.lock

# The wheel the image installs, in dist/.
wheel: $(VENV)/.dev-installed
	$(PY) -m build --wheel --no-isolation --outdir dist .

# Debian packages for the browser tests and report rendering: Chromium and a CJK font.
system-deps:
	@scripts/system-deps.sh

# `make run HOST=0.0.0.0 PORT=8080 INSTANCE=/srv/tracker-demo`: where to listen, and the folder of the
# embedded default (SQLite database, broker, secret key); an existing TRACKER_INSTANCE_DIR is kept.
HOST ?= 127.0.0.1
PORT ?= 5000
INSTANCE ?= $(or $(TRACKER_INSTANCE_DIR),instance)
run: install
	TRACKER_INSTANCE_DIR="$(INSTANCE)" $(TRACKER) db upgrade
	TRACKER_INSTANCE_DIR="$(INSTANCE)" $(TRACKER) demo-data --if-empty
	TRACKER_INSTANCE_DIR="$(INSTANCE)" $(TRACKER) run --host $(HOST) --port $(PORT)

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
	rm -rf $(VENV) instance/*.sqlite* instance/celerybeat-schedule* .pytest_cache dist build sbom.cdx.json
