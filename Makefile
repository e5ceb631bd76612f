# The README's two commands live here: `make demo` and `make test`. Both install from nothing first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast lint format wheel bench clean

install: $(STAMP)

# Reinstall when the package metadata changes; otherwise `install` is a no-op.
$(STAMP): setup.py pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e ".[local,dev,xgboost]"
	touch $(STAMP)

# The whole chain on the embedded default, in one Spark session (README "The demo"). The --set options trade
# search breadth for time (GBT and the grids are in `customer-ml train-classifier`'s defaults, not the demo's).
DEMO_SETTINGS := --set classifier.candidates.gbt.enabled=false --set classifier.candidates.logistic.enabled=false \
	--set 'classifier.candidates.xgboost.grid={}' --set classifier.candidates.xgboost.params.n_estimators=100 \
	--set segmenter.selection.k_min=3 --set segmenter.selection.k_max=6 --set segmenter.n_init=2 \
	--set segmenter.stability.runs=2 --set segmenter.fit_sample_rows=20000
demo: install
	$(BIN)/customer-ml $(DEMO_SETTINGS) demo --rows 100000

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

wheel: install
	$(BIN)/python -m pip wheel --no-deps -w dist .

bench: install
	$(BIN)/python -m pip install --quiet -e ".[local,dev,xgboost,bench]"
	$(BIN)/python bench/bench_lake.py
	$(BIN)/python bench/bench_generate.py
	$(BIN)/python bench/bench_validation.py
	$(BIN)/python bench/bench_classifier.py
	$(BIN)/python bench/bench_scoring.py
	$(BIN)/python bench/bench_monitoring.py
	$(BIN)/python bench/bench_scale.py

clean:
	rm -rf $(VENV) build dist lib/*.egg-info work .pytest_cache .ruff_cache spark-warehouse metastore_db derby.log
