# Kriya: `make run` serves on 127.0.0.1:$PORT with SQLite; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench bench-rp chaos check clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

# Fresh secrets for a new checkout; an older .env gets the variables it lacks (the ID-token signing key).
.env: | $(STAMP)
	$(PY) scripts/write_env.py .env

run: $(STAMP) .env
	$(PY) scripts/write_env.py .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py serve

test: $(STAMP) .env
	$(PY) scripts/write_env.py .env
	$(PY) manage.py collectstatic --noinput --verbosity 0  # /docs and the admin need the manifest
	$(PY) -m pytest
	cd kriya_client && ../$(PY) -m pytest  # the relying-party kit's own tests (its own settings)

bench: $(STAMP) .env
	$(PY) bench/run.py

chaos: $(STAMP) .env
	$(PY) scripts/chaos.py

bench-rp: $(STAMP) .env
	$(PY) bench/relying_party.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .plane-venv
