# The paysaga image: the API (default command), the worker (`python worker.py`) and the schema
# migrations (`alembic upgrade head`, run as the tables' owner: in compose, the one-shot `migrate`).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# dependencies first: a code change does not reinstall them. The runtime lock: the exact
# versions, checked by hash, that `make test` ran on (its dev lock pins the same ones)
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

# run from the source tree (uvicorn, alembic and worker.py import from the working directory)
COPY . .
# bytecode ahead of time: with PYTHONDONTWRITEBYTECODE the worker's workflow sandbox would
# otherwise compile each workflow module again for every workflow it starts
RUN python -m compileall -q -x '(^|/)tests/' .
RUN useradd --system --uid 10001 --home-dir /app paysaga \
    && chown -R paysaga /app
USER paysaga

# the API; the worker's metrics (:9464) are for Prometheus on the internal network only
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1

# the API only serves: it runs as a role that cannot change the schema, which the migrations
# (`alembic upgrade head`, with the owner's DATABASE_URL) have brought up to date beforehand
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000"]
