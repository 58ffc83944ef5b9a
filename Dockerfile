# The paysaga image: the API (default command, migrates first) and the worker (`python worker.py`).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# dependencies first: a code change does not reinstall them
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# run from the source tree (uvicorn, alembic and worker.py import from the working directory)
COPY . .
# bytecode ahead of time: with PYTHONDONTWRITEBYTECODE the worker's workflow sandbox would
# otherwise compile each workflow module again for every workflow it starts
RUN python -m compileall -q -x '(^|/)tests/' .
RUN useradd --system --uid 10001 --home-dir /app paysaga \
    && chown -R paysaga /app
USER paysaga

EXPOSE 8000 9464

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1

# the API applies the schema before it serves (`alembic upgrade head` is idempotent)
CMD ["sh", "-c", "alembic upgrade head && exec uvicorn api.main:app --host 0.0.0.0 --port 8000"]
