# Two entry points (see README): `make demo` and `make test`. Both build the venv when needed.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.cfa-installed
CORES ?= $(shell nproc 2>/dev/null || echo 2)
# The default workflow profile runs one GPU job at a time (a GPU cannot hold two trainings). Without
# an NVIDIA GPU that cap only idles CPU cores, so the demo lifts it; GPUS=N sets it by hand.
GPUS ?= $(shell nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
OFFLINE ?= 0

# The demo profile; OFFLINE=1 also switches the metrics to randomly initialised backbones
# (for machines that cannot download Inception/AlexNet weights). Outputs then say so loudly.
DEMO_CONFIG := profile=demo
ifeq ($(OFFLINE),1)
DEMO_CONFIG += 'metrics={"pretrained_backbones": false}'
endif
# SEED=1: the same demo from another seed (benchmarks/bench_demo.py measures the spread this way).
ifneq ($(SEED),)
DEMO_CONFIG += seed=$(SEED)
endif

.PHONY: venv demo test test-cluster lock bench bench-demo clean-demo help

help:
	@echo "make demo [OFFLINE=1]   build the venv, run every table and figure of the paper on built-in data"
	@echo "make test               build the venv, run the tests"
	@echo "make test-cluster       the workflow on a real Slurm (starts a single-node one as root if none is reachable)"
	@echo "make bench              run the benchmarks (JSON on stdout)"
	@echo "make bench-demo [OFFLINE=1]  time make demo on a fresh clone, again, and from an existing venv"
	@echo "make lock               re-resolve requirements/lock.txt from requirements/requirements.in"

# Idempotent: rebuilt only when the lock or the package metadata changes.
$(STAMP): requirements/lock.txt requirements/requirements.in pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements/lock.txt -r requirements/requirements.in
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	@touch $(STAMP)

venv: $(STAMP)

DEMO_RESULTS := results/demo
SNAKEMAKE := PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake

# Every table and figure, then the Snakemake report (only when the index changed), then the one page
# to open. A second run finds nothing to do.
demo: venv
	@echo "cfa demo: Tables 1-4 and their figures on built-in data ($(if $(filter 1,$(OFFLINE)),OFFLINE: random-weight backbones,pretrained backbones))"
	$(SNAKEMAKE) all --cores $(CORES) --resources gpu=$(if $(filter-out 0,$(GPUS)),$(GPUS),$(CORES)) --config $(DEMO_CONFIG)
	@test $(DEMO_RESULTS)/report.html -nt $(DEMO_RESULTS)/index.md || \
		$(SNAKEMAKE) all --config $(DEMO_CONFIG) --report $(DEMO_RESULTS)/report.html
	@echo "cfa demo: open $(DEMO_RESULTS)/index.md (Snakemake report: $(DEMO_RESULTS)/report.html)"

test: venv
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q

# Not part of `make test`: needs a reachable Slurm, or root and Debian's package registry to start one
# (cluster/slurm-up.sh). Stops only the daemons it started.
test-cluster: venv
	BIN=$(BIN) bash cluster/test-cluster.sh

# The demo benchmark clones the repo and runs `make demo` twice (about 40 minutes): `make bench-demo`.
bench: venv
	@for b in benchmarks/bench_*.py; do [ $$b = benchmarks/bench_demo.py ] || { echo "# $$b" >&2; $(BIN)/python $$b; }; done

bench-demo:
	$(PYTHON) benchmarks/bench_demo.py $(if $(filter 1,$(OFFLINE)),--offline)

# Re-resolve exact versions (needs the registry): a fresh venv from requirements.in, frozen.
lock:
	rm -rf /tmp/cfa-lock-venv && $(PYTHON) -m venv /tmp/cfa-lock-venv
	/tmp/cfa-lock-venv/bin/pip install --quiet -r requirements/requirements.in
	/tmp/cfa-lock-venv/bin/pip freeze --exclude-editable | grep -v '^cfa' > requirements/lock.txt
	@echo "wrote requirements/lock.txt"
