# 反诈助手 — two commands: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-loaded install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/python -m bot serve

test: install
	$(BIN)/python -m pytest -q --durations=5

# The suite twice in random order with every core but one busy (what a loaded CI machine looks like).
test-loaded: install
	PY=$(BIN)/python tools/test-loaded.sh

clean:
	rm -rf $(VENV) .cache .pytest_cache
