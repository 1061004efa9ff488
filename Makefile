# Two commands for a newcomer: `make run` runs the system, `make test` passes the tests.
# Both do every set-up step first; each step skips work already done. Beside them, the local
# Kubernetes cluster: `make cluster` brings it up, `make e2e` runs the tests on it.

SHELL := /bin/bash
.DEFAULT_GOAL := help

DAPR_HOME ?= $(HOME)/.dapr
export PATH := $(DAPR_HOME)/bin:$(PATH)
# Never let uv download an interpreter: use the machine's Python.
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON_PREFERENCE := only-system
# The dapr CLI we can build here (1.12) predates the scheduler, so it does not pass daprd the
# scheduler's address; daprd 1.18 reads it from this variable instead. See README "Platform".
export DAPR_SCHEDULER_HOST_ADDRESS_DNS_A ?= 127.0.0.1:50006

# The token a sidecar sends its app (APP_API_TOKEN): inventory and payment refuse calls without
# it. Made once per machine, outside the repo; daprd and the apps inherit it. The other token
# (DAPR_API_TOKEN, app -> sidecar) is on in the tests and on Kubernetes but off here: the 1.12
# CLI reads each sidecar's metadata without one, and `dapr stop -f .` would stop nothing.
# Beside it, the order API's role tokens (README "Roles"): order-processor does not start
# without them, and the README's steps and orderctl read them from the same file.
DAPR_LOCAL_STATE ?= $(HOME)/.local/state/dapr-order-processing
TOKENS := $(DAPR_LOCAL_STATE)/tokens.env
TOKEN_NAMES := APP_API_TOKEN CUSTOMER_API_TOKEN OPERATOR_API_TOKEN MANAGER_API_TOKEN

UV_VERSION := 0.13.8
UV := uv
PYTEST_ARGS ?=

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.PHONY: run
run: setup up tokens ## Set up everything, then run the three services with `dapr run -f .`
	set -a && . $(TOKENS) && set +a && dapr run -f .

# The start-up demo (dapr.yaml) first prints its order's result, within its own deadline: the
# seed's last line is part of what `make run` promises. -x matches whole command lines, so the
# recipe's own shell does not count.
.PHONY: stop
stop: ## Stop what `make run` started: the three apps and their sidecars (`dapr stop -f .`)
	@while pgrep -fx '.*/orderctl --url [^ ]* demo' >/dev/null; do sleep 0.2; done
	dapr stop -f .

# Each token is made once; a file an older version made gets the ones it lacks, and the
# tokens it has stay as they are.
.PHONY: tokens
tokens: ## Make this machine's tokens once (tokens.env), adding any the file lacks
	@mkdir -p $(dir $(TOKENS))
	@umask 077 && touch $(TOKENS) && [ -z "$$(tail -c1 $(TOKENS))" ] || echo >> $(TOKENS)
	@for name in $(TOKEN_NAMES); do \
	  grep -q "^$$name=" $(TOKENS) && continue; \
	  python3 -c 'import secrets, sys; print(f"{sys.argv[1]}={secrets.token_hex(32)}")' \
	    "$$name" >> $(TOKENS) && echo "added $$name to $(TOKENS)"; \
	done

.PHONY: test
test: setup up lint ## Set up everything, then run lint and the whole test suite
	$(UV) run --frozen pytest $(PYTEST_ARGS)

.PHONY: setup
setup: runtime python k8s-tools browser ## Build/install the Dapr runtime and CLI, the Python environment and chromium

.PHONY: runtime
runtime: ## Install daprd, placement, scheduler and the dapr CLI into ~/.dapr/bin
	scripts/install-dapr.sh

.PHONY: python
python: ## Install uv (from PyPI) and sync the workspace from uv.lock
	@$(UV) --version 2>/dev/null | grep -q "uv $(UV_VERSION)" || python3 -m pip install -q "uv==$(UV_VERSION)"
	$(UV) sync --frozen

.PHONY: browser
browser: ## Debian's chromium for the board's browser tests (apt-get, only if it is missing)
	scripts/install-browser.sh

.PHONY: k8s-tools
k8s-tools: ## kustomize, skaffold's schema and the Dapr CRDs for the offline Kubernetes checks
	scripts/install-k8s-tools.sh

BENCH_ARGS ?=
.PHONY: cluster
cluster: ## A local Kubernetes with Dapr's control plane (Linux, root; README "Kubernetes on this machine")
	scripts/cluster/up.sh

.PHONY: cluster-stop
cluster-stop: ## Turn the local cluster off, keeping its state (orders, volumes): `make cluster` resumes it
	scripts/cluster/stop.sh

.PHONY: cluster-down
cluster-down: ## Remove the local cluster with all its state, and restore what it changed on the machine
	scripts/cluster/down.sh

.PHONY: cluster-status
cluster-status: ## Show the local cluster's processes, node and system pods
	scripts/cluster/status.sh

.PHONY: cluster-run
cluster-run: python cluster ## `skaffold dev` on the local cluster: build, deploy, port-forward; Ctrl-C removes it
	. scripts/cluster/lib.sh && $(UV) run --frozen python scripts/cluster/skaffold_run.py $(RUN_ARGS)

.PHONY: e2e
e2e: python ## Bring the local cluster up, then run the tests on it (tests/e2e)
	@# The tests report the first order's time from here: the cluster's bring-up included.
	export E2E_STARTED_AT=$$(date +%s.%N) && $(MAKE) --no-print-directory cluster \
	  && . scripts/cluster/lib.sh && $(UV) run --frozen pytest tests/e2e $(E2E_ARGS)

.PHONY: bench
bench: setup up ## Measure ours against the runtime ceiling and the seed's design (docs/perf.md)
	$(UV) run --frozen python -m bench.run $(BENCH_ARGS)

.PHONY: up
up: ## Start placement, scheduler and Zipkin if they are not running
	scripts/controlplane.sh up

.PHONY: down
down: ## Stop what `make up` started, nothing else
	scripts/controlplane.sh down

.PHONY: status
status: ## Show the control plane's state
	scripts/controlplane.sh status

.PHONY: lint
lint: ## ruff and mypy
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy
