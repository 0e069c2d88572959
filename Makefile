# The commands a newcomer needs: `make demo`, `make run` and `make test`. All set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# The dashboard tests' Chromium, from the npm package @sparticuz/chromium (DASHBOARD_CHROMIUM overrides).
CHROMIUM := node_modules/.cache/chromium/chromium

# pytest's workers: a test mostly waits on sockets and subprocesses, so two keep two cores busy.
PYTEST_WORKERS ?= 2

.PHONY: test demo run lint typecheck unit bench browser screenshots clean

# Side by side: pip and npm install (each one's output printed whole when it ends), then ruff and mypy
# run beside pytest, whose progress shows as it goes. Any failure fails `make test`.
test:
	$(MAKE) --no-print-directory --jobs=3 --output-sync=target $(PY_STAMP) $(NODE_STAMP) $(CHROMIUM)
	$(MAKE) --no-print-directory --jobs=3 lint typecheck unit

demo: $(PY_STAMP) $(NODE_STAMP)
	$(BIN)/python -m devhost.demo

# Azurite, the sandbox and the local host (python -m devhost) until Ctrl-C; PORT=0 picks a free port.
run: $(PY_STAMP) $(NODE_STAMP)
	$(BIN)/python -m devhost.run --port $(or $(PORT),7071)

lint: $(PY_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(PY_STAMP)
	$(BIN)/mypy .

unit: $(PY_STAMP) $(NODE_STAMP) $(CHROMIUM)
	$(BIN)/pytest --numprocesses=$(PYTEST_WORKERS) --dist=worksteal

# The headless Chromium the dashboard's browser tests and screenshots use (unpacked from npm).
browser: $(CHROMIUM)

# The dashboard's pictures in docs/dashboard/*.png, retaken.
screenshots: $(PY_STAMP) $(NODE_STAMP) $(CHROMIUM)
	$(BIN)/python -m devhost.screenshots

# Every bench/*.py in turn; the slow ones (list_scale: an hour of the emulator writing rows) only with
# BENCH_SLOW=1.
BENCH_SLOW_ONES := list_scale
bench: $(PY_STAMP) $(NODE_STAMP)
	for script in bench/*.py; do name=$$(basename $$script .py); \
	  case " $(BENCH_SLOW_ONES) " in *" $$name "*) [ -n "$(BENCH_SLOW)" ] || { echo "skipped $$name (BENCH_SLOW=1 runs it)"; continue; };; esac; \
	  $(BIN)/python -m bench.$$name || exit 1; done

$(PY_STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CHROMIUM): $(NODE_STAMP) devhost/unpack-chromium.mjs
	node devhost/unpack-chromium.mjs

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis
