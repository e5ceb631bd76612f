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
	$(BIN)/python -m pip install --quiet -e ".[dev,xgboost]"
	touch $(STAMP)

# The whole chain on the embedded default; each later stage joins it as it lands.
demo: install
	$(BIN)/customer-ml generate --rows 100000
	$(BIN)/customer-ml validate --table customers
	$(BIN)/customer-ml info

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
	$(BIN)/python bench/bench_lake.py
	$(BIN)/python bench/bench_generate.py
	$(BIN)/python bench/bench_validation.py

clean:
	rm -rf $(VENV) build dist lib/*.egg-info work .pytest_cache .ruff_cache spark-warehouse metastore_db derby.log
