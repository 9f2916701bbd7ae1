# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,train]'
	touch $(STAMP)

setup: $(STAMP)

## The main job on the embedded default: the bundled model on the sample images.
run: setup
	$(BIN)/inspection model verify
	$(BIN)/inspection model eval sample_images

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Every test, after lint and type checks.
test: lint
	$(BIN)/pytest

bench: setup
	$(BIN)/python benchmarks/model_latency.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
