# Two entry points (see README): `make demo` and `make test`. Both create .venv and install on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup browser demo test test-fast bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0   # the CPU build; an unpinned torch would pull a CUDA build
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: setup
	$(BIN)/tomau colorize tomau/samples -o out/demo
	@echo "before: tomau/samples/   after: out/demo/"

test: setup browser
	$(BIN)/python -m pytest -q

# unit tests only (no servers, browsers or extra processes)
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

# Debian's Chromium for the web page's end-to-end test; where it cannot be installed the test is skipped with its reason
browser:
	@command -v chromium >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then S=; else S="sudo -n"; fi; \
	  { $$S env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium || { $$S apt-get update -qq && $$S env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }; } >/dev/null 2>&1 \
	  || echo "note: could not install chromium; the browser test will be skipped"; }

bench: setup
	$(BIN)/python bench/speed.py

clean:
	rm -rf $(VENV) out *.egg-info .pytest_cache
