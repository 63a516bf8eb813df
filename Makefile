# The two commands of the quick start:
#   make serve   install everything (once) and start the server on the default stack
#   make test    install everything the tests need (once) and run the whole suite
# Re-running is fast: each step is skipped when its inputs did not change.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# A portable llama.cpp build, so pip's cached wheel works on any x86-64 machine.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: serve test install install-test lint bench clean

serve: install
	$(BIN)/openlive serve $(ARGS)

test: install-test
	bash scripts/test.sh $(ARGS)

install: $(VENV)/.installed-default
install-test: $(VENV)/.installed-test

$(VENV)/.installed-default: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip
	$(BIN)/pip install -e '.[default]'
	$(BIN)/python -m openlive.engines.models
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed-default
	$(BIN)/pip install -e '.[default,kokoro,test]'
	touch $@

lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: install-test
	$(BIN)/python bench/text_latency.py

clean:
	rm -rf $(VENV) .sdk-envs tests/conformance/node/node_modules
