# The gateway's image: `docker build -t zoho-mail-gateway .` (see docs/deploy.md, "Containers").
# BASE is the official Python image; any Debian-like image with python3 and its venv module will
# do (the tests build on a local Debian one, as no registry is reachable there).
ARG BASE=python:3.12-slim

# Build: the project and its dependencies installed into a virtual environment.
FROM ${BASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mailer ./mailer
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --quiet .

# Run: the environment, the entry points, a user of its own; the state lives in /data.
FROM ${BASE}
RUN groupadd --system --gid 10001 mailer \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin mailer \
    && mkdir -p /data \
    && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
COPY gunicorn.conf.py wsgi.py app.py /app/
# The working directory is the state's: MAILER_DB defaults to instance/mailer.sqlite3 in it,
# unless MAILER_DB or a PostgreSQL DATABASE_URL names another state.
WORKDIR /data
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8000
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/api/email/health', timeout=4)"]
# The exec form: gunicorn is PID 1 and gets SIGTERM itself (a clean stop within 30 s).
CMD ["gunicorn", "--config", "/app/gunicorn.conf.py", "wsgi:app"]
