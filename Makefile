# The front door for people: each target is a thin call into Python or the Pulumi CLI.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= dev
OUT ?= build/$(STACK)
PORT ?= 8080

.PHONY: venv torch-venv check format test render stack-file preview up destroy toolchain cluster cluster-down serve models image base-image lock bench bench-engine bench-cluster bench-render bench-model-change promote diff clean

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

# The CrossGuard pack's own venv (policy/.venv), which the engine runs the pack in.
POLICY_VENV := policy/.venv
$(POLICY_VENV)/.installed: policy/requirements.txt
	test -x $(POLICY_VENV)/bin/python || $(PYTHON) -m venv $(POLICY_VENV)
	$(POLICY_VENV)/bin/pip install -q --disable-pip-version-check -r policy/requirements.txt
	touch $@

# PyTorch's exporter, for the real-export test: one venv per machine, outside the clone (about 5 GB, 3 minutes).
TORCH_VENV := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/ml-platform/torch-2.15.0
$(TORCH_VENV)/.installed: requirements-torch.txt
	test -x $(TORCH_VENV)/bin/python || $(PYTHON) -m venv $(TORCH_VENV)
	$(TORCH_VENV)/bin/pip install -q --disable-pip-version-check -r requirements-torch.txt
	touch $@
torch-venv: $(TORCH_VENV)/.installed
# The tests use it where it was built (a user's own TORCH_PYTHON wins).
ifneq ($(wildcard $(TORCH_VENV)/.installed),)
export TORCH_PYTHON ?= $(TORCH_VENV)/bin/python
endif

# The cluster tests (tests/cluster) also need `make toolchain` and `.ci/provision`; without them they skip, saying so.
test: venv $(CHECKOV_VENV)/.installed $(POLICY_VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

# Lint, format and types over the whole repository (settings in pyproject.toml); .ci/run runs it before the tests.
# `make format` rewrites the files the format check would complain about.
check: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Offline: the real program under mocks; writes OUT, validates, runs policy and checkov.
render: venv $(CHECKOV_VENV)/.installed
	$(PY) -m tools.render --stack $(STACK) --out $(OUT)

# Offline: how two stacks' rendered objects differ.
FROM ?= dev
TO ?= prod
diff: venv
	$(PY) -m tools.diff --from $(FROM) --to $(TO)

# Copies FROM's deployed image digests and versions into Pulumi.$(TO).yaml (docs/delivery.md).
# OUTPUTS: FROM's outputs as JSON (default: `pulumi stack output --json --stack FROM`); MODEL: only that model.
promote: venv
	$(PY) -m tools.promote --from $(FROM) --to $(TO) $(if $(MODEL),--model $(MODEL)) $(if $(OUTPUTS),--outputs $(OUTPUTS))

# The real engine and the local cluster (docs/cluster.md). `make toolchain` builds the pinned Pulumi CLI,
# its plugins and Kubernetes' binaries from Go modules into .toolchain/bin (cached outside the clone: seconds when warm).
toolchain:
	bash toolchain/build.sh

# A single-node cluster on loopback (etcd, API server with Pod Security admission, controller-manager, scheduler,
# a node) plus the local image builder. Idempotent; `make cluster-down` stops it by pid and removes .cluster/.
NODE ?=
cluster: venv toolchain
	$(PY) -m tools.cluster up $(if $(NODE),--node $(NODE)) $(if $(NODES),--nodes $(NODES))
cluster-down: venv
	$(PY) -m tools.cluster down

# `pulumi up|preview|destroy` of STACK with the local pieces only where none is configured (tools/deploy.py says
# which it chose): your CLI, login and kube context win. The toolchain is built only when no `pulumi` is on PATH.
ENGINE_DEPS := venv $(POLICY_VENV)/.installed $(if $(shell command -v pulumi 2>/dev/null),,toolchain)
# The stack file is checked first, before anything is built.
stack-file:
	@test -f Pulumi.$(STACK).yaml || { echo "make: no stack file Pulumi.$(STACK).yaml (STACK=$(STACK))" >&2; exit 2; }
up: stack-file $(ENGINE_DEPS)
	$(PY) -m tools.deploy up --stack $(STACK)
preview: stack-file $(ENGINE_DEPS)
	$(PY) -m tools.deploy preview --stack $(STACK)
destroy: stack-file $(ENGINE_DEPS)
	$(PY) -m tools.deploy destroy --stack $(STACK)

# The model server, locally without Docker (docs/model-server.md). What to serve, first given first:
#   MODEL_DIR=dir        a model artifact directory (manifest.json); name and version from its manifest
#   MODEL_PATH=file.onnx one ONNX file, from the command line or the environment (`MODEL_PATH=x.onnx make serve`)
#   MODEL=iris           models/iris.onnx (MODEL=path/to/file.onnx: that file)
#   nothing              the example model, trained first if it is missing
# A file is served under its file name (MODEL_NAME=... to choose another). The server refuses MODEL_DIR and
# MODEL_PATH together, saying so.
MODEL_ARTIFACT := model/artifacts/breast-cancer.onnx
MODEL_DIR ?=
MODEL_PATH ?= $(if $(MODEL_DIR),,$(if $(MODEL),$(if $(filter %.onnx,$(MODEL)),$(MODEL),models/$(MODEL).onnx),$(MODEL_ARTIFACT)))
MODEL_NAME ?= $(if $(MODEL_PATH),$(basename $(notdir $(MODEL_PATH))))
$(MODEL_ARTIFACT): | venv
	$(PY) model/train.py --out $@
serve: venv $(filter $(MODEL_ARTIFACT),$(MODEL_PATH))
	PYTHONPATH=model PORT=$(PORT) $(if $(MODEL_DIR),MODEL_DIR=$(MODEL_DIR)) $(if $(MODEL_PATH),MODEL_PATH=$(MODEL_PATH)) \
		$(if $(MODEL_NAME),MODEL_NAME=$(MODEL_NAME)) $(PY) -m model_server

# The example models, reproducibly (model/train.py: fixed seeds, data sets scikit-learn ships): models/<name>.onnx,
# the files stack configs name. models/breast-cancer.onnx is the same bytes as $(MODEL_ARTIFACT), which the image bakes.
models: venv
	$(PY) model/train.py --all models

# Our server against MLServer 1.7 (its own venv), pinned to one core with wrk on the other (docs/benchmarks.md).
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: bench/requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q --disable-pip-version-check -r bench/requirements.txt
	touch $@
bench: venv $(BENCH_VENV)/.installed $(MODEL_ARTIFACT)
	command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -q wrk >/dev/null; } || true
	$(PY) bench/run.py $(BENCH_ARGS)

# The real engine on the local cluster, timed: up from nothing, a no-change preview, a version change, and a
# 50-model stack's preview beside its offline render (build/bench/engine.json). BENCH_ARGS: e.g. --models 10.
bench-engine: venv $(POLICY_VENV)/.installed $(CHECKOV_VENV)/.installed toolchain
	$(PY) -m bench.engine $(BENCH_ARGS)

# The dev stack on the real node: version-change time (median of 3), the HPA under a load step, predictions per
# CPU-second at steady load (build/bench/cluster.json; docs/benchmarks.md). BENCH_ARGS: e.g. --repeat 5.
bench-cluster: venv $(POLICY_VENV)/.installed toolchain
	$(PY) -m bench.cluster $(BENCH_ARGS)

# `make render`'s time for 1, 10 and 50 models (build/bench/render.json). BENCH_ARGS: e.g. --models 100 --repeat 3 --profile.
bench-render: venv $(CHECKOV_VENV)/.installed
	$(PY) -m bench.render $(BENCH_ARGS)

# A model-only change, built and pushed with the Docker daemon's BuildKit to 127.0.0.1:5000: as a small model image
# beside the runtime, and as today's whole server image; seconds and the bytes a node pulls
# (build/bench/model-change-<date>.json; docs/benchmarks.md). BENCH_ARGS: e.g. --repeat 5.
bench-model-change: venv
	$(PY) -m bench.model_change $(BENCH_ARGS)

# The model server image (docs/image.md). BASE_IMAGE empty: the Dockerfile's default, python:3.11-slim-bookworm.
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
