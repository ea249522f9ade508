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

.PHONY: help install protos lint typecheck test test-fast up down export bench clean k8s k8s-tools

help:
	@echo "make up      export the demo models, start both backends and the gateway"
	@echo "make test    install, then ruff + mypy + pytest (integration included)"
	@echo "make down    stop what 'make up' started"
	@echo "make bench   gateway vs direct figures (needs 'make up' running; wrk if installed)"
	@echo "make k8s     render k8s/ from the manifest and build every overlay into build/k8s/"

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
	$(VENV)/bin/mypy wire tandem torchserve tf_serving gateway examples bench

test: lint typecheck k8s-tools
	$(PY) -m pytest -ra

test-fast: protos
	$(PY) -m pytest -ra -m "not integration"

export: install
	$(VENV)/bin/tandem export --manifest $(MANIFEST) --out $(OUT)

up: protos
	$(VENV)/bin/tandem up --manifest $(MANIFEST) --out $(OUT)

down: install
	$(VENV)/bin/tandem down --out $(OUT)

# Figures, not pass/fail: run it while `make up` serves the demo models.
bench: protos
	$(PY) -m bench.gateway --routes $(OUT)/config/routes.json --seconds 4

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
