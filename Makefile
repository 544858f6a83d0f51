# The front door for people: each target is a thin call into Python or the Pulumi CLI.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= dev
OUT ?= build/$(STACK)
PORT ?= 8080

.PHONY: venv test render preview up serve image base-image lock bench promote diff clean

# The venv is rebuilt whenever a requirements file changes.
$(VENV)/.installed: requirements.txt requirements-dev.txt model/requirements.in
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# checkov gets its own venv: it pins packaging==23.2, which breaks pulumi. Built only when needed.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --disable-pip-version-check -r requirements-checkov.txt
	touch $@

test: venv $(CHECKOV_VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

# Offline: the real program under mocks; writes OUT, validates, runs policy and checkov.
render: venv $(CHECKOV_VENV)/.installed
	$(PY) -m tools.render --stack $(STACK) --out $(OUT)

# Offline: how two stacks' rendered objects differ.
FROM ?= dev
TO ?= prod
diff: venv
	$(PY) -m tools.diff --from $(FROM) --to $(TO)

# Copies FROM's deployed image digests and versions into Pulumi.$(TO).yaml (the README's Delivery section).
# OUTPUTS: FROM's outputs as JSON (default: `pulumi stack output --json --stack FROM`); MODEL: only that model.
promote: venv
	$(PY) -m tools.promote --from $(FROM) --to $(TO) $(if $(MODEL),--model $(MODEL)) $(if $(OUTPUTS),--outputs $(OUTPUTS))

# Thin wrappers around the Pulumi CLI, for machines that have it (and the stack's backend and cluster).
define require_pulumi
@test -f Pulumi.$(STACK).yaml || { echo "make $@: no stack file Pulumi.$(STACK).yaml (STACK=$(STACK))" >&2; exit 2; }
@command -v pulumi >/dev/null 2>&1 || { echo "make $@: the Pulumi CLI is not installed; install it, or use 'make render STACK=$(STACK)' offline" >&2; exit 127; }
endef
preview:
	$(require_pulumi)
	pulumi preview --diff --stack $(STACK)
up:
	$(require_pulumi)
	pulumi up --stack $(STACK)

# The model server, locally without Docker (the README's model server section); trains the example model first if it is missing.
MODEL_ARTIFACT := model/artifacts/breast-cancer.onnx
$(MODEL_ARTIFACT): | venv
	$(PY) model/train.py --out $@
serve: venv $(MODEL_ARTIFACT)
	PYTHONPATH=model PORT=$(PORT) MODEL_PATH=$(MODEL_ARTIFACT) $(PY) -m model_server

# Our server against MLServer 1.7 (its own venv), pinned to one core with wrk on the other (the README's model server section).
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: bench/requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q --disable-pip-version-check -r bench/requirements.txt
	touch $@
bench: venv $(BENCH_VENV)/.installed $(MODEL_ARTIFACT)
	command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -q wrk >/dev/null; } || true
	$(PY) bench/run.py $(BENCH_ARGS)

# The model server image (the README's image section). BASE_IMAGE empty: the Dockerfile's default, python:3.11-slim-bookworm.
# CA_FILE (default: this machine's CA bundle; empty: none) becomes the BuildKit secret `ca`, trusted by pip in the build.
TAG ?= ml-platform/model-server:dev
BASE_IMAGE ?=
CA_FILE ?= $(wildcard /etc/ssl/certs/ca-certificates.crt)
image:
	$(PYTHON) -m tools.docker.build --tag $(TAG) $(if $(BASE_IMAGE),--base-image $(BASE_IMAGE)) $(if $(CA_FILE),--ca-file $(CA_FILE))

# A local Debian bookworm + Python 3.11 base (debootstrap + docker import), for machines that cannot pull images.
LOCAL_BASE_IMAGE ?= ml-platform/python-base:3.11-bookworm
base-image:
	bash tools/docker/base-image.sh $(LOCAL_BASE_IMAGE)

# Re-pins model/requirements.lock (exact versions, sha256 of every wheel: x86_64 and aarch64) from requirements.in.
# LOCK_ARGS=--upgrade: move every pin to the newest version within requirements.in (default: keep the pins).
lock:
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PYTHON) -m venv "$$tmp/venv" && "$$tmp/venv/bin/pip" install -q 'uv>=0.5,<1' && \
	"$$tmp/venv/bin/uv" pip compile --quiet --python-platform linux --python-version 3.11 --generate-hashes \
		--custom-compile-command 'make lock' $(LOCK_ARGS) model/requirements.in -o model/requirements.lock

clean:
	rm -rf build .pytest_cache
