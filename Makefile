# Two entry points (see README): `make demo` and `make test`. Both create .venv and install on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0   # the CPU build; an unpinned torch would pull a CUDA build
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: setup
	$(BIN)/tomau colorize tomau/samples -o out/demo
	@echo "before: tomau/samples/   after: out/demo/"

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/speed.py

clean:
	rm -rf $(VENV) out *.egg-info .pytest_cache
