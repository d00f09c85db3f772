# model-sidecar developer commands. Everything runs from the project's own .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_ARGS ?=

.PHONY: install mlserver kserve lint test bench demo clean

install:  ## create .venv and install the package with its test extras
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'

mlserver:  ## MLServer + scikit-learn in .mlserver/ (it pins an older starlette), for tests/heavy
	test -x .mlserver/bin/mlserver || ($(PYTHON) -m venv .mlserver && \
		.mlserver/bin/pip install -q mlserver mlserver-sklearn)

kserve:  ## KServe's ModelServer + Triton's HTTP client in .kserve/ (binary tensors), for tests/heavy
	test -x .kserve/bin/python || ($(PYTHON) -m venv .kserve && \
		.kserve/bin/pip install -q 'kserve==0.21.0' 'tritonclient[http]==2.73.0')

lint:  ## ruff (format check + lint) and mypy --strict
	$(BIN)/ruff format --check sidecar tests bench examples
	$(BIN)/ruff check sidecar tests bench examples
	$(BIN)/mypy

test:  ## the whole test suite (unit, integration with real servers, deployment checks)
	$(BIN)/python -m pytest

bench:  ## benchmarks: print figures and ratios measured in one run (fails if a bar fails)
	@status=0; for script in bench/*_bench.py; do echo "== $$script"; \
		$(BIN)/python $$script || status=1; done; exit $$status

demo:  ## the built-in demo (model server, sidecar, drifting traffic); runtime dependencies only
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e .
	$(BIN)/sidecar demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) .mlserver .kserve .mypy_cache .ruff_cache .pytest_cache .hypothesis build *.egg-info
