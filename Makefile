# Two commands do all set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000
# The suite on two processes (pytest-xdist): the browser tests stay together on one of them.
PARALLEL := -n 2 --dist loadgroup

.PHONY: run test test-accessibility install lint bench clean

$(BIN)/activate: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(BIN)/activate

install: $(BIN)/activate

## Create the venv, migrate, load the demo hospital, serve on http://$(HOST):$(PORT) with the worker in-process.
## Links in mails follow the port unless CLINIC_PUBLIC_BASE_URL says otherwise.
run: install
	$(FLASK) db upgrade
	$(FLASK) clinic demo
	CLINIC_PUBLIC_BASE_URL="$${CLINIC_PUBLIC_BASE_URL:-http://$(HOST):$(PORT)}" \
		$(FLASK) clinic serve --host $(HOST) --port $(PORT)

## Create the venv if needed and run the whole suite. The end-to-end browser tests (tests/e2e) drive
## /usr/bin/chromium (apt-get install chromium); without it they are skipped and the summary says so.
test: install
	$(BIN)/pytest -q $(PARALLEL)

## The accessibility (axe-core, 44 px targets, 320 px and 200 % reflow) and keyboard-only audits on their
## own; `make test` runs them too.
test-accessibility: install
	$(BIN)/pytest -q tests/e2e/test_accessibility.py tests/e2e/test_keyboard.py

lint: install
	$(BIN)/ruff check clinic tests bench config.py setting_kinds.py wsgi.py
	$(BIN)/ruff format --check clinic tests bench config.py setting_kinds.py wsgi.py

bench: install
	$(BIN)/python -m bench.slot_search
	$(BIN)/python -m bench.booking_throughput
	$(BIN)/python -m bench.outbox_throughput
	$(BIN)/python -m bench.outbox_workers
	$(BIN)/python -m bench.outbox_chaos
	$(BIN)/python -m bench.reports
	$(BIN)/python -m bench.walk_in

clean:
	rm -rf $(VENV) instance .pytest_cache
