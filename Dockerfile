# syntax=docker/dockerfile:1
# Production image for the Yellow Button portal. One image serves every role; compose.yaml picks the command:
#   web (default CMD): gunicorn portal.wsgi:application
#   worker:            celery -A portal worker -Q default,pull,export
#   beat:              celery -A portal beat
#   migrate:           python manage.py migrate --noinput
# Build: docker build -t yellow-button-portal .

# ---------------------------------------------------------------------------- builder: the virtualenv
FROM python:3.11-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
COPY requirements-prod.lock /tmp/requirements-prod.lock
# Exactly what the lock names: the pins of requirements.lock without the development tools (`make lock`).
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r /tmp/requirements-prod.lock

# ---------------------------------------------------------------------------- viewer: the clinician viewer's script
# Our source and the pinned npm packages (jose, DOMPurify) bundled by esbuild, as `make setup` does.
FROM node:20-bookworm-slim AS viewer
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend ./frontend
RUN node_modules/.bin/esbuild frontend/viewer/main.js --bundle --minify --format=esm --target=es2020 \
        --outfile=viewer.js

# ---------------------------------------------------------------------------- runtime
FROM python:3.11-slim-bookworm AS runtime

# WeasyPrint's native libraries and the fonts the PDFs use.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core fonts-liberation \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 portal \
    && useradd --system --uid 10001 --gid portal --home-dir /app --no-create-home --shell /usr/sbin/nologin portal

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=portal.settings \
    VAR_DIR=/app/var \
    CONN_MAX_AGE=60 \
    PORT=8000

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# The code stays owned by root (read-only for the app); only VAR_DIR is writable by the portal user.
COPY . /app
COPY --from=viewer /build/viewer.js /app/static/viewer/viewer.js
RUN mkdir -p /app/var && chown portal:portal /app/var

USER portal

# Hashed, compressed static files for whitenoise's manifest storage. The key exists only for this step.
RUN SECRET_KEY=build-only PORTAL_ORIGIN=https://build.invalid DEBUG=0 python manage.py collectstatic --noinput

EXPOSE 8000

# /healthz answers 200 only when the database and the broker are reachable. The Host header is the first
# ALLOWED_HOSTS entry so the check passes whatever host names the deployment allows.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request as r; h = os.environ.get('ALLOWED_HOSTS', '').split(',')[0].strip().lstrip('.*') or 'localhost'; r.urlopen(r.Request('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), headers={'Host': h}), timeout=4)"

CMD ["sh", "-c", "exec gunicorn portal.wsgi:application --bind 0.0.0.0:${PORT:-8000} --workers 3 --access-logfile -"]
