# GAS — make targets (see README.md)
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
HOST    ?= 127.0.0.1
PORT    ?= 8000
# pytest workers: both cores by default
JOBS    ?= 2

.PHONY: setup run test lint format lock bench loadtest clean

setup: $(STAMP)

# the engine's compiled kernel (Cython, pinned in requirements.lock; gcc and the Python
# headers): built in place from its .pyx files; without it the engine runs its Python path
KERNEL_SRC := setup.py $(wildcard src/gas/annotation/*/_*.pyx)

$(STAMP): pyproject.toml requirements.lock $(KERNEL_SRC)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python setup.py --quiet build_ext --inplace
	@$(BIN)/gas --version | tail -n 1
	@touch $(STAMP)

run: setup
	$(BIN)/gas serve --host $(HOST) --port $(PORT)

test: setup
	$(BIN)/pytest -n $(JOBS) --dist loadgroup $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check src tests bench loadtest
	$(BIN)/ruff format --check src tests bench loadtest
	$(BIN)/mypy
	$(BIN)/cfn-lint deploy/aws/*.yaml
	$(BIN)/python deploy/aws/generate.py --check

format: setup
	$(BIN)/ruff check --fix src tests bench loadtest
	$(BIN)/ruff format src tests bench loadtest

# Re-pin every dependency (after editing pyproject.toml).
lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		--no-header -o requirements.lock

bench: setup
	$(BIN)/python bench/engine.py $(BENCH_ARGS)

# Locust against a `gas serve` of its own (free loopback port, temporary data directory; SQLite
# unless GAS_DATABASE_URL is set): USERS web users measured for SECONDS, exits non-zero on any
# failed request. README, "Load tests".
USERS   ?= 300
SECONDS ?= 60
loadtest: setup
	$(BIN)/python loadtest/run.py --users $(USERS) --seconds $(SECONDS) $(LOADTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
