# Everything runs from a project-local virtualenv that this Makefile creates.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install browser demo up test lint typecheck bench bench-scale faults histories clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[embedded,dev]'
	touch $(STAMP)

install: $(STAMP)

# The console's browser tests drive Debian's Chromium (Playwright's own browser download is not used).
BROWSER ?= /usr/bin/chromium
browser:
	@test -x $(BROWSER) || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }

demo: $(STAMP)
	$(BIN)/cohortflow demo

up: $(STAMP)
	$(BIN)/cohortflow up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy cohortflow bench tests

test: lint typecheck browser
	COHORTFLOW_BROWSER=$(BROWSER) $(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.audit_run
	$(BIN)/python -m bench.drivers
	$(BIN)/python -m bench.admin_run
	$(BIN)/python -m bench.reminders
	$(BIN)/python -m bench.cli_startup
	$(BIN)/python -m bench.block_programmes
	$(BIN)/python -m bench.credit_bank
	$(BIN)/python -m bench.console
	$(MAKE) bench-scale

# A 50,000-candidate cycle on two worker processes against Debian's PostgreSQL (apt-get install postgresql),
# then reads of 1,000,000 events through one and two API processes (docs/benchmarks-scale.md, docs/capacity.md);
# SCALE_ARGS="--postgres embedded" on a machine without it.
bench-scale: $(STAMP)
	mkdir -p bench/results
	$(BIN)/python -m bench.scale_out --report bench/results/scale.json $(SCALE_ARGS)

# Kill the worker, PostgreSQL and Temporal at random moments of a 5,000-person cycle, hold PostgreSQL down for
# 8 minutes, then check nothing was lost or doubled (docs/reliability.md); FAULTS_ARGS="--seed N --people 500".
faults: $(STAMP)
	$(BIN)/python -m bench.faults $(FAULTS_ARGS)

# Record workflow histories for tests/workflows/test_replay.py under a new tag: make histories TAG=v3
histories: $(STAMP)
	$(BIN)/python -m tests.workflows.record_histories $(TAG)

clean:
	rm -rf $(VENV) state .pytest_cache .mypy_cache .ruff_cache
