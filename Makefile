# Two entry points (see README): `make demo` and `make test`. Both build the venv when needed.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.cfa-installed
CORES ?= 8
OFFLINE ?= 0

# The demo profile; OFFLINE=1 also switches the metrics to randomly initialised backbones
# (for machines that cannot download Inception/AlexNet weights). Outputs then say so loudly.
DEMO_CONFIG := profile=demo
ifeq ($(OFFLINE),1)
DEMO_CONFIG += 'metrics={"pretrained_backbones": false}'
endif

.PHONY: venv demo test test-cluster lock bench clean-demo help

help:
	@echo "make demo [OFFLINE=1]   build the venv, run Tables 2 and 4 end to end on procedural data"
	@echo "make test               build the venv, run the tests"
	@echo "make test-cluster       the workflow on a real Slurm (starts a single-node one as root if none is reachable)"
	@echo "make bench              run the benchmarks (JSON on stdout)"
	@echo "make lock               re-resolve requirements/lock.txt from requirements/requirements.in"

# Idempotent: rebuilt only when the lock or the package metadata changes.
$(STAMP): requirements/lock.txt requirements/requirements.in pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements/lock.txt -r requirements/requirements.in
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	@touch $(STAMP)

venv: $(STAMP)

demo: venv
	@echo "cfa demo: Tables 2 and 4 on procedural data ($(if $(filter 1,$(OFFLINE)),OFFLINE: random-weight backbones,pretrained backbones))"
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake table2 table4 --cores $(CORES) --config $(DEMO_CONFIG)

test: venv
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q

# Not part of `make test`: needs a reachable Slurm, or root and Debian's package registry to start one
# (cluster/slurm-up.sh). Stops only the daemons it started.
test-cluster: venv
	BIN=$(BIN) bash cluster/test-cluster.sh

bench: venv
	@for b in benchmarks/*.py; do echo "# $$b" >&2; $(BIN)/python $$b; done

# Re-resolve exact versions (needs the registry): a fresh venv from requirements.in, frozen.
lock:
	rm -rf /tmp/cfa-lock-venv && $(PYTHON) -m venv /tmp/cfa-lock-venv
	/tmp/cfa-lock-venv/bin/pip install --quiet -r requirements/requirements.in
	/tmp/cfa-lock-venv/bin/pip freeze --exclude-editable | grep -v '^cfa' > requirements/lock.txt
	@echo "wrote requirements/lock.txt"
