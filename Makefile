# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

# exact versions with their hashes: what the tests ran on is what the image ships
# (requirements.lock: the runtime, for the Docker image; requirements-dev.lock: runtime + dev extras)
LOCK     := requirements.lock
DEV_LOCK := requirements-dev.lock
UV_COMPILE = var/lock-tools/bin/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --annotation-style line --custom-compile-command "make lock" --quiet

.PHONY: run test install lock clean

$(BIN)/.installed: pyproject.toml $(DEV_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

install: $(BIN)/.installed

## run everything embedded: Temporal dev server, SQLite, MercadoPago sandbox, API, worker
run: install
	$(BIN)/python -m devstack

## the test suite: on SQLite, and on PostgreSQL at 127.0.0.1:5432 whenever it is reachable
test: install
	$(BIN)/python -m pytest

## after a change of pyproject.toml's dependencies: pin them again (newest releases the ranges allow
## for what is new, the current pins kept where they still fit; `--upgrade` in UV_FLAGS moves them all)
lock:
	test -x var/lock-tools/bin/uv || ($(PYTHON) -m venv var/lock-tools && var/lock-tools/bin/pip install --quiet uv)
	$(UV_COMPILE) $(UV_FLAGS) --extra dev -o $(DEV_LOCK)
	$(UV_COMPILE) $(UV_FLAGS) --constraint $(DEV_LOCK) -o $(LOCK)

clean:
	rm -rf var .pytest_cache
