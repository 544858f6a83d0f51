# The front door for people: each target is a thin call into Python or the Pulumi CLI.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= dev
OUT ?= build/$(STACK)
PORT ?= 8080

.PHONY: venv test render preview up serve image bench promote diff clean

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

clean:
	rm -rf build .pytest_cache
