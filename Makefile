# Tandem: `make up` runs the platform locally, `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= build
MANIFEST ?= models.yaml
# torch's CPU wheel lies on this kind of machine; pip must look there before PyPI.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
STAMP := $(VENV)/.installed

.PHONY: help install protos lint typecheck test test-fast up down export bench loadtest benchmarks smoke clean k8s k8s-tools schema

help:
	@echo "make up      export the demo models, start both backends and the gateway"
	@echo "make test    install, then ruff + mypy + pytest (integration included)"
	@echo "make down    stop what 'make up' started"
	@echo "make smoke   build the images, docker compose up, predict, roll out, stop (needs root)"
	@echo "make bench   issue 16's targets, PASS/FAIL/INCONCLUSIVE, a few minutes (needs 'make up' running)"
	@echo "make loadtest  tandem loadtest --quick against 'make up' (report in build/loadtest)"
	@echo "make benchmarks  regenerate BENCHMARKS.md (starts and stops its own stacks)"
	@echo "make k8s     render k8s/ from the manifest and build every overlay into build/k8s/"
	@echo "make schema  regenerate schemas/models.schema.json (the manifest's JSON Schema)"

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(FIND_LINKS) -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

protos: install
	@if [ -f gateway/protos/build.py ]; then $(PY) -m gateway.protos.build; fi

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: protos
	$(VENV)/bin/mypy wire tandem torchserve tf_serving gateway examples bench deploy

test: lint typecheck k8s-tools
	$(PY) -m pytest -ra

test-fast: protos
	$(PY) -m pytest -ra -m "not integration"

export: install
	$(VENV)/bin/tandem export --manifest $(MANIFEST) --out $(OUT)

schema: install
	$(VENV)/bin/tandem schema --out schemas/models.schema.json

up: protos
	$(VENV)/bin/tandem up --manifest $(MANIFEST) --out $(OUT)

down: install
	$(VENV)/bin/tandem down --out $(OUT)

# Figures, not pass/fail: run it while `make up` serves the demo models.
bench: protos
	$(PY) -m bench.gateway --routes $(OUT)/config/routes.json --manifest $(MANIFEST) --seconds 4

# The compose stack end to end (deploy/smoke.py): starts dockerd if none runs, builds the
# images, checks predictions and a rollout under load, stops what it started.
smoke: protos
	$(PY) -m deploy.smoke

loadtest: protos
	$(VENV)/bin/tandem loadtest --quick --manifest $(MANIFEST) --build $(OUT) --out $(OUT)/loadtest

# Every figure of BENCHMARKS.md, rerun (about 20 minutes; no `make up` may be running).
benchmarks: protos
	$(PY) -m bench.benchmarks --manifest $(MANIFEST) --out $(OUT) --file BENCHMARKS.md

# checkov in its own venv: its pinned dependencies would fight the project's.
TOOLS ?= .venv-tools
CHECKOV_VERSION := 3.3.30
k8s-tools: $(TOOLS)/bin/checkov

$(TOOLS)/bin/checkov:
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)

# The kustomize tree k8s/ and the built YAML of every overlay under build/k8s/.
k8s: install
	$(VENV)/bin/tandem k8s render --manifest $(MANIFEST) --out $(OUT)/k8s --kserve

clean:
	rm -rf $(OUT) .mypy_cache .ruff_cache .pytest_cache
