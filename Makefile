# Two entry points (see README): `make demo` and `make test`. Both create .venv and install on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup browser web demo lint test test-fast bench clean

setup: $(VENV)/.installed

# setup.py builds tomau's one C module (tomau/_kernels.c) in place: a change to it is built again by this rule
$(VENV)/.installed: pyproject.toml setup.py tomau/_kernels.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0   # the CPU build; an unpinned torch would pull a CUDA build
	$(BIN)/pip install --quiet -e '.[test,ray]'  # ray: tests/test_archive.py's local Ray cluster
	touch $@

demo: setup
	$(BIN)/tomau colorize tomau/samples -o out/demo --overwrite   # out/demo is the demo's own folder: a second run replaces it
	@echo "before: tomau/samples/   after: out/demo/"

# the linter first (ruff, configured in pyproject.toml), then the whole suite
test: lint browser web
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .

# unit tests only (no servers, browsers or extra processes)
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

# Debian's Chromium for the web page's end-to-end test; where it cannot be installed the test is skipped with its reason
browser:
	@command -v chromium >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then S=; else S="sudo -n"; fi; \
	  { $$S env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium || { $$S apt-get update -qq && $$S env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }; } >/dev/null 2>&1 \
	  || echo "note: could not install chromium; the browser test will be skipped"; }

# the static page (web/dist): onnxruntime-web as package-lock.json pins it, and the default model exported to ONNX;
# serve it with `python -m http.server -d web/dist 8000`. Without npm the page's browser test is skipped with its reason
web: setup
	@command -v npm >/dev/null 2>&1 || { echo "note: npm is not installed; the static page is not built and its test will be skipped"; exit 0; }; \
	  { (cd web && npm ci --no-audit --no-fund --silent) && mkdir -p out && $(BIN)/tomau export -m default -o out/web-model.onnx -q \
	  && node web/build.mjs --model out/web-model.onnx; } || echo "note: the static page could not be built; its browser test will be skipped"

bench: setup
	$(BIN)/python bench/speed.py

clean:
	rm -rf $(VENV) out *.egg-info .pytest_cache
