# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: system-deps setup run test lint bench sample-images clean

# Debian packages the tests need (Chromium for browser tests); installed only when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,train]'
	touch $(STAMP)

setup: system-deps $(STAMP)

## The main job on the embedded default: verify the bundled model, replay the sample images, then the
## review server (http://127.0.0.1:8080/) and the station on the simulated line together, until Ctrl-C.
run: setup
	$(BIN)/inspection model verify
	$(BIN)/inspection replay sample_images
	@$(BIN)/inspection users list | grep -q . || { \
	  echo "First login: choose a password (12+ characters) for the review UI's user 'admin'."; \
	  $(BIN)/inspection users add admin --role admin --full-name Administrator; }
	@$(BIN)/inspection review & server=$$!; trap 'kill $$server 2>/dev/null; wait $$server' EXIT INT TERM; \
	  echo "Review queue: http://127.0.0.1:8080/ (log in as admin; add inspectors with 'inspection users add')"; \
	  $(BIN)/inspection run

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Every test, after lint and type checks.
test: lint
	$(BIN)/pytest

bench: setup
	$(BIN)/python benchmarks/model_latency.py
	$(BIN)/python benchmarks/genicam_acquisition.py

## Regenerate sample_images/: 12 good parts and 2 of each training defect kind (seeds 5e6+).
sample-images: setup
	rm -rf sample_images && mkdir sample_images
	$(BIN)/inspection sim render sample_images --count 12 --seed 5000000 --defect-share 0
	n=0; for kind in scratch pit crack stain edge_chip missing_hole; do \
	  $(BIN)/inspection sim render sample_images --count 2 --seed $$((5000100 + n)) --defect-share 1 --kind $$kind; \
	  n=$$((n + 2)); done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
