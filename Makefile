# Quill: `make run` to serve a development instance, `make test` for every gate.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
RUN := $(UV) run --locked

.PHONY: run test lint types pytest install test-tools bench bench-quick bench-tools migration \
	clean vendor browser screenshots

$(UV):
	@echo "uv not found: installing it from the package index"
	$(PYTHON) -m pip install --user --quiet uv || \
		$(PYTHON) -m pip install --user --quiet --break-system-packages uv

install: $(UV)
	$(UV) sync --locked

run: install
	$(RUN) quill seed-demo
	$(RUN) quill serve --host 127.0.0.1 --port 8000

lint: install
	$(RUN) ruff check src tests bench scripts
	$(RUN) lint-imports --no-logo

types: install
	$(RUN) mypy --strict src tests

# The browser tests drive the OS's Chromium (never a downloaded one). As root it is
# installed from the OS packages when missing; otherwise those tests skip with the reason
# (under CI=true they fail instead).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
		[ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& (apt-get install -y -qq chromium || (apt-get update -qq && apt-get install -y -qq chromium)) \
		|| echo "Chromium not installed: the browser tests will skip"; }

pytest: install test-tools browser
	$(RUN) pytest -q -p no:cacheprovider -n auto --dist loadfile

test: lint types pytest

# nginx for the deployment test (tests/deploy): as root it is installed from the OS
# packages when missing; otherwise that test skips, naming the reason (under CI=true it
# fails instead). Debian starts a package's service on install, and nginx's default site
# would then hold port 80 on this machine for good; a policy-rc.d that refuses service
# starts, in place only for the install (and only when the machine has none), prevents it;
# should one already there allow the start, the freshly started server is stopped.
# The test runs its own nginx on free ports.
test-tools:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
		[ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null || { \
			echo "nginx not installed (needs root to install): the deployment test will skip"; \
			exit 0; }; \
		policy=/usr/sbin/policy-rc.d; made=; \
		if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' > $$policy; \
			chmod 755 $$policy; made=1; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq nginx-light >/dev/null \
			|| { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; } \
			|| echo "nginx could not be installed: the deployment test will skip"; \
		[ -z "$$made" ] || rm -f $$policy; \
		[ ! -s /run/nginx.pid ] || /usr/sbin/nginx -s quit || true; }

# wrk drives the load when present; as root it is installed from the OS packages if
# missing, otherwise the bench falls back to its Python driver (bench/pydriver.py).
bench-tools:
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& (apt-get install -y -qq wrk || (apt-get update -qq && apt-get install -y -qq wrk)) \
		|| echo "wrk not installed: using the Python load driver"; }

bench: install bench-tools
	$(RUN) python -m bench.run

bench-quick: install bench-tools
	$(RUN) python -m bench.run --quick

# Refresh the pinned browser files (htmx and its SSE extension) with npm and record their
# sha256 in src/quill/webapp/static/vendor/VENDOR.json. Running or testing Quill needs no npm.
vendor: install
	$(RUN) python scripts/vendor.py
	$(RUN) python scripts/vendor.py --check

# Screenshots of the web app's pages at desktop and phone width, into docs/screenshots/.
screenshots: install browser
	$(RUN) python scripts/screenshots.py

migration: install
	$(RUN) python scripts/regen_initial_migration.py

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache
