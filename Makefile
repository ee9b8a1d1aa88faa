# dattt-nb — two commands do all set-up on a fresh clone:
#   make tutorial   execute the notebook series with papermill into runs/<profile>/ (PROFILE=tiny by default)
#   make test       unit tests (they also grade the assignments with otter), then nbval over the series at `ci`
#   make assignments  student + autograder versions of notebooks/assignments/ in runs/assignments/ (otter assign)
#   make book       the executed notebooks of runs/<profile>/ (after `make tutorial`) as a static site
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?= tiny
# CPU profiles: train the series' models and run the notebooks two at a time (one thread each; 1.6x the throughput)
JOBS ?= $(if $(filter ci tiny,$(PROFILE)),2,1)
STAMP := $(VENV)/.dattt-installed
# the three real DAVIS-16 videos that sit beside the project on the machines that build it (tests skip without them)
DAVIS_MINI := $(abspath ../shared/data/davis16-mini)
TEST_ENV := DATTT_PROFILE=ci TQDM_DISABLE=1 HF_HUB_OFFLINE=1 MPLBACKEND=Agg PYTHONHASHSEED=0 \
	$(if $(wildcard $(DAVIS_MINI)),DATTT_DAVIS_MINI=$(DAVIS_MINI))

.PHONY: venv data tutorial test unit nbval book bench severity strip clean-runs assignments

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

data: venv  ## build the built-in synthetic benchmark for PROFILE (cached)
	$(BIN)/dattt-nb prepare --profile $(PROFILE)

tutorial: venv  ## run the whole series with papermill into runs/$(PROFILE)/
	$(BIN)/dattt-nb prepare --profile $(PROFILE)
	$(BIN)/dattt-nb run --profile $(PROFILE) --jobs $(JOBS)

test: unit nbval

unit: venv
	$(TEST_ENV) OMP_NUM_THREADS=1 $(BIN)/python -m pytest tests -q -p no:cacheprovider -n 2 --durations=10

nbval: venv
	$(TEST_ENV) $(BIN)/python -m pytest notebooks --nbval-lax --nbval-current-env --nbval-cell-timeout 600 -p no:cacheprovider -q

book: venv  ## runs/$(PROFILE)/notebooks → runs/$(PROFILE)/book/_build/html (jupyter-book; Colab badges)
	$(BIN)/python -m dattt_nb.course.book --profile $(PROFILE)

ASSIGNMENTS := $(wildcard notebooks/assignments/*.ipynb)
ASSIGNMENTS_OUT := runs/assignments

assignments: venv  ## otter assign: runs/assignments/<name>/{student,autograder} (solution tests run on the way)
	@for nb in $(ASSIGNMENTS); do \
		name=$$(basename $$nb .ipynb); rm -rf $(ASSIGNMENTS_OUT)/$$name; \
		echo "otter assign $$nb -> $(ASSIGNMENTS_OUT)/$$name"; \
		TQDM_DISABLE=1 MPLBACKEND=Agg $(BIN)/otter assign $$nb $(ASSIGNMENTS_OUT)/$$name || exit 1; \
	done
	@echo "grade one submission: $(BIN)/otter run -a $(ASSIGNMENTS_OUT)/<name>/autograder/<name>-autograder_*.zip SUBMISSION.ipynb"

bench: venv
	$(BIN)/python benchmarks/bench_ttt.py

GRID ?= $(PROFILE)
severity: venv  ## notebook 10's study runs into the run cache (GRID=tiny: ~50 min on 2 cores; GRID=full: ~10 CPU-hours)
	$(BIN)/python benchmarks/severity_study.py --profile $(PROFILE) --grid $(GRID) --jobs $(JOBS)

strip: venv  ## clear outputs of committed notebooks
	$(BIN)/nbstripout notebooks/*.ipynb

clean-runs:
	rm -rf runs/
