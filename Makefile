# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test install clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## run everything embedded: Temporal dev server, SQLite, MercadoPago sandbox, API, worker
run: install
	$(BIN)/python -m devstack

## the test suite: on SQLite, and on PostgreSQL at 127.0.0.1:5432 whenever it is reachable
test: install
	$(BIN)/python -m pytest

clean:
	rm -rf var .pytest_cache
